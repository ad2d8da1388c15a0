use lapin::{
    BasicProperties,
    types::{AMQPValue, FieldTable},
};

/// A string header of a message, if present (long or short string).
pub fn header_str<'a>(properties: &'a BasicProperties, key: &str) -> Option<&'a str> {
    match lookup(properties.headers().as_ref()?, key)? {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str()),
        _ => None,
    }
}

/// An integer header of a message, if present and non-negative.
pub fn header_u64(properties: &BasicProperties, key: &str) -> Option<u64> {
    match lookup(properties.headers().as_ref()?, key)? {
        AMQPValue::LongLongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongInt(n) => u64::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(u64::from(*n)),
        AMQPValue::ShortInt(n) => u64::try_from(*n).ok(),
        AMQPValue::ShortUInt(n) => Some(u64::from(*n)),
        AMQPValue::Timestamp(n) => Some(*n),
        _ => None,
    }
}

fn lookup<'a>(table: &'a FieldTable, key: &str) -> Option<&'a AMQPValue> {
    table
        .inner()
        .iter()
        .find(|(k, _)| k.as_str() == key)
        .map(|(_, v)| v)
}
