-- Overdue measures (督办): how far past its answer deadline a measure went without the agency's
-- answer (0 not overdue, 1 past the deadline, 2 past twice it). The deadline itself follows from
-- the gateway's configuration (GATEWAY_ANSWER_DEADLINES) and `submitted_at`.
ALTER TABLE measures ADD COLUMN overdue_level smallint NOT NULL DEFAULT 0;

-- The timers look among the measures still awaiting an answer only.
CREATE INDEX measures_awaiting_answer ON measures (submitted_at)
    WHERE state IN ('submitted', 'dispatched', 'delivered') AND kind <> 'inquiry';
