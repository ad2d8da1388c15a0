//! The bus envelopes and court requests, decoded from arbitrary bytes: decoding may fail but
//! never panic, and what decodes must encode and decode to the same message.
#![no_main]

use enforcement_proto::v1 as pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(message) = M::decode(data) {
        let again = M::decode(message.encode_to_vec().as_slice());
        assert_eq!(again.as_ref().ok(), Some(&message));
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<pb::Instruction>(data);
    round_trip::<pb::AgencyReport>(data);
    round_trip::<pb::Notice>(data);
    round_trip::<pb::ExecuteResponse>(data);
    round_trip::<pb::SubmitRequest>(data);
    round_trip::<pb::InquireRequest>(data);
    round_trip::<pb::FreezeDepositsRequest>(data);
    round_trip::<pb::AmendCaseRequest>(data);
    round_trip::<pb::CloseCaseRequest>(data);
});
