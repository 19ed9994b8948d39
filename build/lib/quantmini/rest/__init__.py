"""The Polygon/Massive REST half: one client, the dataset registry, the schedule, bronze rows."""
