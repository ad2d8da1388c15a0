-- The timers' next expiry and next expiry warning read the first measure in force with a period,
-- in expiry order. With the kinds in the predicate as well, this index answers both with one row
-- whatever the planner believes of the table's size. The index of every measure in force with an
-- expiry left the kind to a filter, and on a table whose statistics lagged its growth the planner
-- read and sorted every measure in force on each wake of the timers (the kinds are
-- MeasureKind::has_period's; a test in store/mod.rs holds them to it).
CREATE INDEX measures_with_period_by_expiry ON measures (expires_at)
    WHERE state IN ('effective', 'partial') AND expires_at IS NOT NULL
      AND kind IN ('freeze', 'seal_up', 'distraint', 'exit_restriction');
