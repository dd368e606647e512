"""Events: what the PCR reviews, their workflow, ESR deadlines and timelines."""
