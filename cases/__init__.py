"""The governance domain: the case loop, SLA rules, the working calendar, the case store, clock jobs, indicators."""
