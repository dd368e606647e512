/* Voyant: a sound and a browser notification when a new critical event comes.

   Both are off by default and saved in this browser (localStorage); the notification
   permission is asked only when the notification box is ticked. Browsers allow
   notifications only in a secure context (HTTPS, or localhost): the overview says so
   when they cannot work. "New" is read from the header's count (#alarm-count, on every
   page; the overview's SSE refresh sends it again): its data-latest is the newest
   critical event nobody has acknowledged; one newer than the last this browser saw is
   announced once, whichever tab sees it first. Plain script, no dependency. */
(function () {
  "use strict";

  var SOUND = "voyant.alerts.sound";
  var NOTIFY = "voyant.alerts.notify";
  var SEEN = "voyant.alerts.seen";
  var audio = null;

  function stored(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }

  function store(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* private mode: not kept */ }
  }

  function notifyBlocker() {
    if (!window.isSecureContext) { return "insecure"; }
    if (!("Notification" in window)) { return "unsupported"; }
    if (Notification.permission === "denied") { return "denied"; }
    return "";
  }

  /* The browser lets a page play sound once it has been clicked: the context is made (or
     resumed) on a click, and a beep before that is silent. */
  function unlockAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return null; }
    if (audio === null) { audio = new Context(); }
    if (audio.state === "suspended") { audio.resume(); }
    return audio;
  }

  function beep() {
    var ctx = unlockAudio();
    if (ctx === null) { return; }
    var t = ctx.currentTime;
    [0, 0.3, 0.6].forEach(function (delay) {
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, t + delay);
      gain.gain.exponentialRampToValueAtTime(0.15, t + delay + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + delay + 0.2);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(t + delay);
      osc.stop(t + delay + 0.25);
    });
  }

  function announce(latest) {
    if (stored(SOUND) === "on") { beep(); }
    if (stored(NOTIFY) !== "on" || notifyBlocker() !== "" ||
        Notification.permission !== "granted") { return; }
    var settings = document.getElementById("alert-settings");
    var item = document.querySelector('[data-testid="room-alert"][data-event-id="' + latest + '"]');
    var title = settings ? settings.dataset.title : document.title;
    try {
      new Notification(title, {body: item ? item.dataset.summary : document.title,
                               tag: "voyant-event-" + latest});
    } catch (e) { /* some mobile browsers notify only from a service worker */ }
  }

  /* Compare the header's newest critical event with the last this browser saw. The
     first look ever only takes the baseline: what was there before is not news. */
  function check() {
    var counter = document.getElementById("alarm-count");
    if (counter === null) { return; }
    var count = parseInt(counter.dataset.count, 10) || 0;
    var latest = parseInt(counter.dataset.latest, 10) || 0;
    var before = stored(SEEN);
    if (latest > (parseInt(before || "0", 10) || 0)) {
      store(SEEN, String(latest));
      if (before !== null && count > 0) { announce(latest); }
    }
  }

  function settings() {
    var box = document.getElementById("alert-settings");
    if (box === null) { return; }
    var sound = document.getElementById("alert-sound");
    var notify = document.getElementById("alert-notify");

    function show() {
      var blocker = notifyBlocker();
      box.querySelectorAll("[data-when]").forEach(function (p) {
        p.hidden = p.dataset.when !== blocker;
      });
      notify.disabled = blocker === "insecure" || blocker === "unsupported";
      notify.checked = stored(NOTIFY) === "on" && blocker === "" &&
        Notification.permission === "granted";
    }

    sound.checked = stored(SOUND) === "on";
    sound.addEventListener("change", function () {
      store(SOUND, sound.checked ? "on" : "off");
      if (sound.checked) { beep(); }  // the click unlocks the sound, and lets it be heard
    });
    notify.addEventListener("change", function () {
      if (!notify.checked) { store(NOTIFY, "off"); show(); return; }
      if (notifyBlocker() !== "") { show(); return; }
      Notification.requestPermission().then(function (answer) {
        store(NOTIFY, answer === "granted" ? "on" : "off");
        show();
      });
    });
    show();
    box.hidden = false;
  }

  document.addEventListener("DOMContentLoaded", function () {
    settings();
    check();
    document.body.addEventListener("htmx:afterSettle", check);
    document.addEventListener("click", function () {
      if (stored(SOUND) === "on") { unlockAudio(); }
    }, {once: true});
  });
}());
