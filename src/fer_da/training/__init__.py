"""Training: run plans, schedules, balanced batches, the loop and its scaffold, selection
and the validators (the methods themselves: ``fer_da/methods/``)."""
