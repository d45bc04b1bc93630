"""Release safety: release events, the judge, suspect-release ranking."""
