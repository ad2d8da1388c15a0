-- Every query of measures by expiry names the kinds that have a period, and so reads
-- measures_with_period_by_expiry (0028). The older index of every measure in force by expiry
-- is read by none, and only cost each new measure and each measure taking effect an entry.
DROP INDEX IF EXISTS measures_in_force_by_expiry;
