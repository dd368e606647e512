"""The hash chain of each journal at rest: checked as records arrive, verified, exported,
summarised for the room page's badge and anchored in the signed quarterly reports."""
