//! Every parser at the hub's edge, fed arbitrary text: none may panic, and whatever one accepts
//! must read back the same from its own display.
#![no_main]

use hub_domain::{
    AccountNumber, AgencyCode, CaseNumber, CourtCode, CreditCode, DocumentNumber, Money,
    OrganisationName, Period, PersonName, ResidentId,
};
use libfuzzer_sys::fuzz_target;

macro_rules! round_trip {
    ($ty:ty, $input:expr) => {
        if let Ok(parsed) = <$ty>::parse($input) {
            let again = <$ty>::parse(&parsed.to_string());
            assert_eq!(
                again.as_ref().ok(),
                Some(&parsed),
                "{} does not read back",
                stringify!($ty)
            );
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    round_trip!(ResidentId, text);
    round_trip!(CreditCode, text);
    round_trip!(CourtCode, text);
    round_trip!(CaseNumber, text);
    round_trip!(AccountNumber, text);
    round_trip!(AgencyCode, text);
    round_trip!(PersonName, text);
    round_trip!(OrganisationName, text);
    round_trip!(DocumentNumber, text);
    if let Ok(money) = Money::parse_yuan(text) {
        assert_eq!(Money::parse_yuan(&money.to_string()).ok(), Some(money));
    }
    if let [a, b, c, d, rest @ ..] = data {
        let months = u32::from_le_bytes([*a, *b, 0, 0]);
        let days = u32::from_le_bytes([*c, *d, 0, 0]);
        if let Ok(period) = Period::new(months, days) {
            let start = time::OffsetDateTime::UNIX_EPOCH
                + time::Duration::seconds(
                    i64::from(u32::from_le_bytes([
                        rest.first().copied().unwrap_or(0),
                        0,
                        0,
                        0,
                    ])) * 86_400,
                );
            let end = period.end_from(start);
            assert!(end > start);
        }
    }
});
