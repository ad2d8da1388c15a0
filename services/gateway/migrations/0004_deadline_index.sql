-- Instructions nobody has taken yet, by deadline: the timers find the next one to expire, and
-- expire those past it, without reading every measure ever recorded.
CREATE INDEX measures_undelivered_by_deadline ON measures (deadline)
    WHERE kind <> 'inquiry' AND state IN ('submitted', 'dispatched');
