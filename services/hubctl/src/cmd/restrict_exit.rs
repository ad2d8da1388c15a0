//! `hubctl restrict-exit`: orders an exit restriction (限制出境) through public security. It binds
//! a natural person: the debtor, or for an organisation debtor the responsible person named with
//! `--person-name`, `--person-id` and `--role`.

use clap::{ArgGroup, Args, ValueEnum};
use enforcement_proto::v1 as pb;

use crate::{
    Context,
    cli::{CaseArgs, SubjectArgs, SubmitOptions},
    cmd::submit,
    error::Failure,
};

/// `hubctl restrict-exit`.
#[derive(Args, Debug, Clone)]
pub struct RestrictExitArgs {
    #[command(flatten)]
    pub case: CaseArgs,
    #[command(flatten)]
    pub subject: ExitSubjectArgs,

    /// The public security unit's code at the hub, e.g. BJ-PSB.
    #[arg(long, value_name = "CODE")]
    pub police: String,

    /// Months the restriction lasts once effective (required: there is no statutory maximum,
    /// but the period must be stated).
    #[arg(long, value_name = "N")]
    pub months: u32,

    /// Days added after the months.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub days: u32,

    #[command(flatten)]
    pub submit: SubmitOptions,
}

/// Who an exit restriction is against, and whom it binds. A natural-person debtor is named with
/// --person-name and --resident-id and is the person restricted; an organisation debtor is named
/// with --org-name and --credit-code, and --person-name, --person-id and --role name the person
/// restricted (执行程序解释 art. 24).
#[derive(Args, Debug, Clone)]
#[group(skip)]
#[command(group(ArgGroup::new("exit_subject").required(true).args(["resident_id", "org_name"])))]
pub struct ExitSubjectArgs {
    /// The debtor's full legal name (with --resident-id), or the name of the organisation's
    /// responsible person to restrict (with --org-name).
    #[arg(long, value_name = "NAME")]
    pub person_name: Option<String>,

    /// A natural-person debtor's resident identity number (18 characters).
    #[arg(long, value_name = "ID", requires = "person_name")]
    pub resident_id: Option<String>,

    /// An organisation debtor's registered name.
    #[arg(long, value_name = "NAME", requires = "credit_code")]
    pub org_name: Option<String>,

    /// The organisation's unified social credit code (18 characters).
    #[arg(long, value_name = "CODE", requires = "org_name")]
    pub credit_code: Option<String>,

    /// The responsible person's resident identity number (organisation debtors only).
    #[arg(
        long,
        value_name = "ID",
        requires = "person_name",
        conflicts_with = "resident_id"
    )]
    pub person_id: Option<String>,

    /// How the person stands to the organisation debtor.
    #[arg(long, value_name = "ROLE", conflicts_with = "resident_id")]
    pub role: Option<ResponsibleRole>,
}

/// How a responsible person stands to an organisation debtor.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponsibleRole {
    /// Legal representative (法定代表人).
    LegalRepresentative,
    /// Principal (主要负责人).
    Principal,
    /// Person directly responsible for the debt (直接责任人员).
    DirectlyResponsible,
}

/// Submits the exit restriction and reports it.
pub async fn run(context: &Context, args: RestrictExitArgs) -> Result<(), Failure> {
    let subject = subject(&args)?;
    let measure = exit_restriction(&args, &subject);
    let order = submit::Order {
        case: submit::case_info(&args.case),
        subject,
        agency: submit::agency(pb::AgencyKind::PublicSecurity, &args.police),
        measure,
    };
    submit::order(context, order, &args.submit).await
}

/// The debtor: a person when `--resident-id` is given (then `--person-name` is theirs), else an
/// organisation (then `--person-name` names the person restricted).
fn subject(args: &RestrictExitArgs) -> Result<pb::Subject, Failure> {
    let given = &args.subject;
    submit::subject(&SubjectArgs {
        person_name: given
            .resident_id
            .as_ref()
            .and_then(|_| given.person_name.clone()),
        resident_id: given.resident_id.clone(),
        org_name: given.org_name.clone(),
        credit_code: given.credit_code.clone(),
    })
}

/// The restriction. A natural-person debtor is the person restricted; for an organisation the
/// person named is sent as given, and the hub names what is missing (`exit_restriction.person`
/// when nobody is named).
fn exit_restriction(args: &RestrictExitArgs, subject: &pb::Subject) -> pb::submit_request::Measure {
    let (person, role) = match &subject.party {
        Some(pb::subject::Party::Person(debtor)) => {
            (Some(debtor.clone()), pb::ResponsibleRole::Debtor)
        }
        _ => (
            args.subject
                .person_name
                .as_ref()
                .map(|name| pb::NaturalPerson {
                    name: name.clone(),
                    resident_id: args.subject.person_id.clone().unwrap_or_default(),
                }),
            args.subject
                .role
                .map_or(pb::ResponsibleRole::Unspecified, role),
        ),
    };
    pb::submit_request::Measure::ExitRestriction(pb::ExitRestriction {
        person,
        role: role as i32,
        period: submit::period(args.months, args.days),
    })
}

fn role(role: ResponsibleRole) -> pb::ResponsibleRole {
    match role {
        ResponsibleRole::LegalRepresentative => pb::ResponsibleRole::LegalRepresentative,
        ResponsibleRole::Principal => pb::ResponsibleRole::Principal,
        ResponsibleRole::DirectlyResponsible => pb::ResponsibleRole::DirectlyResponsible,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(extra: &[&str]) -> Result<RestrictExitArgs, clap::Error> {
        let mut args = vec![
            "hubctl",
            "--court",
            "京0105",
            "restrict-exit",
            "--case",
            "（2024）京0105执1号",
            "--police",
            "BJ-PSB",
            "--months",
            "6",
            "--enforcement-amount",
            "50000",
            "--officer",
            "王执行",
        ];
        args.extend(extra);
        match Cli::try_parse_from(args)?.command {
            Command::RestrictExit(args) => Ok(args),
            other => panic!("not restrict-exit: {other:?}"),
        }
    }

    fn restriction(args: &RestrictExitArgs) -> pb::ExitRestriction {
        let subject = subject(args).expect("subject");
        match exit_restriction(args, &subject) {
            pb::submit_request::Measure::ExitRestriction(x) => x,
            other => panic!("not an exit restriction: {other:?}"),
        }
    }

    #[test]
    fn a_natural_person_debtor_is_the_person_restricted() {
        let args = parse(&[
            "--person-name",
            "张三",
            "--resident-id",
            "11010519491231002X",
        ])
        .expect("parses");
        let x = restriction(&args);
        let person = x.person.expect("person");
        assert_eq!(person.name, "张三");
        assert_eq!(person.resident_id, "11010519491231002X");
        assert_eq!(x.role, pb::ResponsibleRole::Debtor as i32);
        assert_eq!(x.period, Some(pb::Period { months: 6, days: 0 }));
    }

    #[test]
    fn an_organisation_debtor_names_its_responsible_person() {
        let args = parse(&[
            "--org-name",
            "某某有限公司",
            "--credit-code",
            "91350100M000100Y43",
            "--person-name",
            "李四",
            "--person-id",
            "11010519491231002X",
            "--role",
            "legal-representative",
        ])
        .expect("parses");
        let subject = subject(&args).expect("subject");
        assert!(matches!(
            subject.party,
            Some(pb::subject::Party::Organisation(_))
        ));
        let x = restriction(&args);
        assert_eq!(x.person.map(|p| p.name).as_deref(), Some("李四"));
        assert_eq!(x.role, pb::ResponsibleRole::LegalRepresentative as i32);
    }

    #[test]
    fn an_organisation_without_a_named_person_is_left_for_the_hub_to_refuse() {
        let args = parse(&[
            "--org-name",
            "某某有限公司",
            "--credit-code",
            "91350100M000100Y43",
        ])
        .expect("parses");
        assert_eq!(restriction(&args).person, None);
    }

    #[test]
    fn a_natural_person_debtor_takes_no_role_or_other_person() {
        let person = [
            "--person-name",
            "张三",
            "--resident-id",
            "11010519491231002X",
        ];
        let mut with_role = person.to_vec();
        with_role.extend(["--role", "principal"]);
        assert!(parse(&with_role).is_err());
        let mut with_other = person.to_vec();
        with_other.extend(["--person-id", "110105194912310029"]);
        assert!(parse(&with_other).is_err());
        assert!(
            parse(&["--person-name", "张三"]).is_err(),
            "no debtor named"
        );
    }
}
