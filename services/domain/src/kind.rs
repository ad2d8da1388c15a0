//! Kinds of measures and kinds of agencies, and which agency carries which measure.
//!
//! Routing depends on these: a measure goes only to an agency kind that can carry it out, and
//! the kind decides which statutory maximum period applies.

use std::fmt;
use std::str::FromStr;

use crate::{StatutoryMaximum, UnknownNameError};

/// What a court asks an agency to do (执行措施).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeasureKind {
    /// Freeze (冻结) of bank funds, up to an explicit amount.
    Freeze,
    /// Deduction (扣划) of funds to the court's account.
    Deduction,
    /// Seal-up (查封) of real property, including pre-seizure.
    SealUp,
    /// Distraint (扣押) of a vehicle.
    Distraint,
    /// Exit restriction (限制出境) of a natural person.
    ExitRestriction,
    /// Inquiry (查询) of accounts, properties, vehicles or whereabouts.
    Inquiry,
    /// Release (解除) of an earlier measure.
    Release,
    /// Renewal (续行) of an earlier measure before it expires.
    Renewal,
    /// Reduction (部分解除) of a freeze to a smaller amount: a partial release, ordered by a court
    /// or by the hub when a case's secured total exceeds its enforcement amount.
    Reduction,
}

/// Accepted measure kind names, for error messages.
const MEASURE_KIND_NAMES: &str =
    "freeze, deduction, seal_up, distraint, exit_restriction, inquiry, release, renewal, reduction";

impl MeasureKind {
    /// Every measure kind.
    pub const ALL: [MeasureKind; 9] = [
        Self::Freeze,
        Self::Deduction,
        Self::SealUp,
        Self::Distraint,
        Self::ExitRestriction,
        Self::Inquiry,
        Self::Release,
        Self::Renewal,
        Self::Reduction,
    ];

    /// Parses the lower-case snake-case name, e.g. `"seal_up"`.
    pub fn parse(name: &str) -> Result<Self, UnknownNameError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownNameError::new("measure kind", name, MEASURE_KIND_NAMES))
    }

    /// The lower-case snake-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Freeze => "freeze",
            Self::Deduction => "deduction",
            Self::SealUp => "seal_up",
            Self::Distraint => "distraint",
            Self::ExitRestriction => "exit_restriction",
            Self::Inquiry => "inquiry",
            Self::Release => "release",
            Self::Renewal => "renewal",
            Self::Reduction => "reduction",
        }
    }

    /// The name in sentences shown to people: `"seal-up"`, `"exit-restriction"`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Freeze => "freeze",
            Self::Deduction => "deduction",
            Self::SealUp => "seal-up",
            Self::Distraint => "distraint",
            Self::ExitRestriction => "exit-restriction",
            Self::Inquiry => "inquiry",
            Self::Release => "release",
            Self::Renewal => "renewal",
            Self::Reduction => "reduction",
        }
    }

    /// Whether a measure of this kind holds money for its case: what the case ledger adds up
    /// against the enforcement amount (no excessive freezing, 民诉法 art. 253).
    pub const fn holds_money(self) -> bool {
        matches!(self, Self::Freeze | Self::Deduction)
    }

    /// Whether a measure of this kind binds an asset for a period: it can be released and
    /// renewed, it lapses at the end of its period, and its court is warned before then.
    pub const fn has_period(self) -> bool {
        matches!(
            self,
            Self::Freeze | Self::SealUp | Self::Distraint | Self::ExitRestriction
        )
    }

    /// The maximum period for measures of this kind.
    ///
    /// `Some(_)` means the measure must carry a period; `Some(StatutoryMaximum::None)` (exit
    /// restriction) means the period is required but has no statutory cap. `None` means the kind
    /// has no period of its own: deduction, inquiry, release and reduction are one-off acts, and
    /// a renewal is bounded by the maximum of the measure it renews.
    pub const fn statutory_maximum(self) -> Option<StatutoryMaximum> {
        match self {
            Self::Freeze => Some(StatutoryMaximum::Deposits),
            Self::SealUp => Some(StatutoryMaximum::RealEstate),
            Self::Distraint => Some(StatutoryMaximum::Movables),
            Self::ExitRestriction => Some(StatutoryMaximum::None),
            Self::Deduction | Self::Inquiry | Self::Release | Self::Renewal | Self::Reduction => {
                None
            }
        }
    }
}

impl FromStr for MeasureKind {
    type Err = UnknownNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl TryFrom<String> for MeasureKind {
    type Error = UnknownNameError;

    /// Reads a stored name (database rows are typed through this).
    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::parse(&name)
    }
}

impl fmt::Display for MeasureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kinds of assisting units (协助执行单位) the hub serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AgencyKind {
    /// Banks and other financial institutions (金融机构).
    Bank,
    /// Land and real-estate registries (不动产登记机构).
    LandRegistry,
    /// Public security (公安): vehicle administration and border inspection.
    PublicSecurity,
}

/// Accepted agency kind names, for error messages.
const AGENCY_KIND_NAMES: &str = "bank, land, police";

impl AgencyKind {
    /// Every agency kind.
    pub const ALL: [AgencyKind; 3] = [Self::Bank, Self::LandRegistry, Self::PublicSecurity];

    /// Parses the short name used in routing keys: `"bank"`, `"land"`, `"police"`.
    pub fn parse(name: &str) -> Result<Self, UnknownNameError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownNameError::new("agency kind", name, AGENCY_KIND_NAMES))
    }

    /// The short name used in routing keys and queue names.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bank => "bank",
            Self::LandRegistry => "land",
            Self::PublicSecurity => "police",
        }
    }

    /// Whether agencies of this kind carry out measures of `measure` kind. Every kind answers
    /// inquiries and releases and renews what it carried out itself; banks also reduce their
    /// freezes.
    pub const fn carries(self, measure: MeasureKind) -> bool {
        use MeasureKind::*;
        match self {
            Self::Bank => matches!(
                measure,
                Freeze | Deduction | Inquiry | Release | Renewal | Reduction
            ),
            Self::LandRegistry => matches!(measure, SealUp | Inquiry | Release | Renewal),
            Self::PublicSecurity => matches!(
                measure,
                Distraint | ExitRestriction | Inquiry | Release | Renewal
            ),
        }
    }
}

impl FromStr for AgencyKind {
    type Err = UnknownNameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl TryFrom<String> for AgencyKind {
    type Error = UnknownNameError;

    /// Reads a stored name (database rows are typed through this).
    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::parse(&name)
    }
}

impl fmt::Display for AgencyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_kind_names_round_trip() {
        let names: Vec<&str> = MeasureKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.join(", "), MEASURE_KIND_NAMES);
        for kind in MeasureKind::ALL {
            assert_eq!(kind.to_string().parse::<MeasureKind>(), Ok(kind));
        }
        assert_eq!(MeasureKind::parse("seal_up"), Ok(MeasureKind::SealUp));
        assert_eq!(
            MeasureKind::parse("exit_restriction"),
            Ok(MeasureKind::ExitRestriction)
        );
        let error = MeasureKind::parse("seal-up").unwrap_err();
        assert_eq!(error.what, "measure kind");
        assert_eq!(error.found, "seal-up");
    }

    #[test]
    fn agency_kind_names_round_trip() {
        assert_eq!(AgencyKind::parse("bank"), Ok(AgencyKind::Bank));
        assert_eq!(AgencyKind::parse("land"), Ok(AgencyKind::LandRegistry));
        assert_eq!(AgencyKind::parse("police"), Ok(AgencyKind::PublicSecurity));
        for kind in AgencyKind::ALL {
            assert_eq!(kind.to_string().parse::<AgencyKind>(), Ok(kind));
        }
        assert_eq!(
            AgencyKind::parse("court").unwrap_err().to_string(),
            "\"court\" is not a known agency kind; expected one of: bank, land, police"
        );
    }

    #[test]
    fn labels_are_the_names_people_read() {
        let labels: Vec<&str> = MeasureKind::ALL.iter().map(|k| k.label()).collect();
        assert_eq!(
            labels,
            vec![
                "freeze",
                "deduction",
                "seal-up",
                "distraint",
                "exit-restriction",
                "inquiry",
                "release",
                "renewal",
                "reduction"
            ]
        );
    }

    #[test]
    fn exactly_the_measures_with_a_statutory_period_bind_an_asset_for_a_period() {
        for kind in MeasureKind::ALL {
            assert_eq!(
                kind.has_period(),
                kind.statutory_maximum().is_some(),
                "{kind}"
            );
        }
    }

    #[test]
    fn statutory_maxima_follow_the_kind_of_property() {
        use MeasureKind::*;
        let maxima: Vec<(MeasureKind, Option<StatutoryMaximum>)> = MeasureKind::ALL
            .into_iter()
            .map(|kind| (kind, kind.statutory_maximum()))
            .collect();
        assert_eq!(
            maxima,
            vec![
                (Freeze, Some(StatutoryMaximum::Deposits)),
                (Deduction, None),
                (SealUp, Some(StatutoryMaximum::RealEstate)),
                (Distraint, Some(StatutoryMaximum::Movables)),
                (ExitRestriction, Some(StatutoryMaximum::None)),
                (Inquiry, None),
                (Release, None),
                (Renewal, None),
                (Reduction, None),
            ]
        );
    }

    #[test]
    fn each_agency_kind_carries_its_measures() {
        let carried = |agency: AgencyKind| -> Vec<&str> {
            MeasureKind::ALL
                .into_iter()
                .filter(|measure| agency.carries(*measure))
                .map(MeasureKind::as_str)
                .collect()
        };
        assert_eq!(
            carried(AgencyKind::Bank),
            [
                "freeze",
                "deduction",
                "inquiry",
                "release",
                "renewal",
                "reduction"
            ]
        );
        assert_eq!(
            carried(AgencyKind::LandRegistry),
            ["seal_up", "inquiry", "release", "renewal"]
        );
        assert_eq!(
            carried(AgencyKind::PublicSecurity),
            [
                "distraint",
                "exit_restriction",
                "inquiry",
                "release",
                "renewal"
            ]
        );
    }
}
