-- The journal of answered instructions is shared by every reference agency (src/journal.rs) and
-- names the agency's code as the land registry and public security do. Only the column's name
-- changes: the answers recorded stay, and a repeated instruction is still answered from them.
ALTER TABLE executions RENAME COLUMN bank_code TO agency_code;
