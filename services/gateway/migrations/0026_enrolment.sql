-- Partner agencies enrolled (`hubctl agency enrol`): the broker user each publishes as. Once an
-- agency is enrolled, its reports and announcements count only if the broker says they came from
-- that user (RabbitMQ refuses a message whose `user_id` is not its connection's user, so the
-- property proves the sender). Suspension is recorded here; the broker user loses its
-- permissions at the broker, and the agency's queue keeps its messages.
CREATE TABLE agency_enrolments (
    agency_kind  text NOT NULL,
    agency_code  text NOT NULL,
    broker_user  text NOT NULL CHECK (length(broker_user) BETWEEN 1 AND 255),
    enrolled_at  timestamptz NOT NULL,
    suspended_at timestamptz,
    PRIMARY KEY (agency_kind, agency_code)
);
