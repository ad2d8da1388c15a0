//! End-to-end tests: courts, gateway, RabbitMQ, adapters and reference agencies, all real,
//! each test in its own vhost and schemas.

mod adapter;
mod alerts;
mod bad_input;
mod bulk;
mod case;
mod compose;
mod dashboard;
mod deadlines;
mod expiry;
mod freeze;
mod gateways;
mod health;
mod hubctl;
mod inquiry;
mod land;
mod metrics;
mod ops;
mod overdue;
mod police;
mod ranking;
mod reflection;
mod security;
mod shape;
mod statistics;
mod submit;
mod trace;
