-- Operators' figures (Ops.Ranking, Ops.AgencyFigures) read by time and by state, not by measure:
-- without these each would read every measure and audit entry ever recorded.

-- The ranking's month: measures by submission, cases by opening.
CREATE INDEX measures_by_submission ON measures (submitted_at);
CREATE INDEX cases_by_opening ON cases (opened_at);

-- What each agency has been sent and not answered.
CREATE INDEX measures_in_flight ON measures (agency_kind, agency_code)
    WHERE state IN ('dispatched', 'delivered');

-- Answers of the last hour and day: audit entries in an answered state by time, inquiry
-- answers by when they came.
CREATE INDEX measure_events_answers_by_time ON measure_events (at)
    WHERE state IN ('effective', 'partial', 'waiting', 'rejected', 'failed', 'released', 'deducted');
CREATE INDEX inquiry_answers_by_time ON inquiry_answers (answered_at)
    WHERE state <> 'pending';
