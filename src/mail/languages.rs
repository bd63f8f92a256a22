//! Every kind of message an agency's people receive, in every language (SPEC §7 (r2)): each renders
//! from the shipped templates and catalogue with no template syntax, key or placeholder left, the
//! counts line and outcome codes as in English, and words of its own language.

use super::invitation::InvitationInput;
use super::message::Address;
use super::receipt::{counts, AttentionRow, ReceiptInput, ReplyTo};
use super::reply::ReplyInput;
use super::review::ReviewDecisionInput;
use super::{Composer, Outgoing, Templates};
use crate::digest::agency::{AgencyDigest, CampaignLine, DecisionLine, OutcomeCount, PersonLine};
use crate::i18n::{Catalogue, Lang, Part, Reason};

fn composer() -> Composer {
    Composer {
        from: Address::parse_mailbox("Agency Portal <portal@example.test>").unwrap(),
        intake_address: "portal@example.test".into(),
        templates: Templates::shipped(),
        sftp: Some(super::SftpAccess {
            host: "sftp.example.test".into(),
            port: 2222,
        }),
    }
}

/// (subject, text, html) of a built message.
fn read(o: &Outgoing) -> (String, String, String) {
    let m = mail_parser::MessageParser::default()
        .parse(&o.bytes)
        .expect("a message");
    (
        m.subject().unwrap_or_default().to_string(),
        m.body_text(0).unwrap_or_default().into_owned(),
        m.body_html(0).unwrap_or_default().into_owned(),
    )
}

/// Words each language's version of every message has, and English has not.
fn own_words(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::En => &[],
        Lang::Es => &["Este mensaje se envió automáticamente"],
        Lang::Pt => &["Esta mensagem foi enviada automaticamente"],
    }
}

fn check(lang: Lang, kind: &str, o: &Outgoing) -> (String, String, String) {
    let (subject, text, html) = read(o);
    assert!(!subject.trim().is_empty(), "{lang} {kind}: no subject");
    for (part, body) in [("text", &text), ("html", &html)] {
        for left in ["{{", "}}", "{%", "%}"] {
            assert!(
                !body.contains(left),
                "{lang} {kind} {part}: `{left}` left in\n{body}"
            );
        }
        // A catalogue key shown instead of its text: `reason.duplicate`.
        for section in ["reason.", "reply.", "field.", "workbook.", "digest."] {
            let key = body.match_indices(section).any(|(i, _)| {
                body[i + section.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_lowercase())
            });
            assert!(
                !key,
                "{lang} {kind} {part}: a `{section}` key left in\n{body}"
            );
        }
        for words in own_words(lang) {
            assert!(
                body.contains(words),
                "{lang} {kind} {part}: not in its language\n{body}"
            );
        }
    }
    (subject, text, html)
}

fn receipt(lang: Lang) -> Outgoing {
    let c = Catalogue::shipped(lang);
    let attention = Part::examples()
        .into_iter()
        .enumerate()
        .map(|(i, p)| AttentionRow {
            row: i as u64 + 2,
            outcome: "invalid".into(),
            reason: Reason::from(p).render(c),
        })
        .collect();
    composer()
        .receipt(&ReceiptInput {
            submission_id: 7,
            lang,
            agency_name: "Talento Azteca".into(),
            file_name: "candidatos.xlsx".into(),
            campaign: Some("50210 Atención a Clientes".into()),
            counts: counts([3, 1, 1, 1, 1, 1, 32]),
            attention,
            results_xlsx: b"r".to_vec(),
            to_fix_xlsx: Some(b"f".to_vec()),
            recipients: vec![("lucia@talento.example".into(), "Lucía".into())],
            reply_to: Some(ReplyTo {
                message_id: "<a@b>".into(),
                subject: "Candidatos".into(),
            }),
        })
        .unwrap()
}

fn invitation(lang: Lang, role: &str) -> Outgoing {
    composer()
        .invitation(&InvitationInput {
            email: "lucia@talento.example".into(),
            name: "Lucía".into(),
            role: role.into(),
            agency_id: "talento-mx".into(),
            agency_name: "Talento Azteca".into(),
            campaigns: vec![("50210".into(), "Atención a Clientes".into())],
            lang,
        })
        .unwrap()
}

/// Every `reply.*` text of the catalogue, worded as a command reply would be.
fn replies(lang: Lang) -> Outgoing {
    let c = Catalogue::shipped(lang);
    let mut keys: Vec<&str> = c.keys().filter(|k| k.starts_with("reply.")).collect();
    keys.sort();
    let items = keys
        .iter()
        .map(|k| {
            let values: Vec<(&str, &str)> = [
                "problem",
                "agency",
                "name",
                "email",
                "domain",
                "domains",
                "error",
                "file",
                "submission",
                "reason",
                "row",
                "outcome",
                "size",
                "max",
                "id",
                "count",
                "list",
            ]
            .into_iter()
            .map(|n| (n, "x"))
            .collect();
            c.fmt(k, &values)
        })
        .collect();
    composer()
        .reply(&ReplyInput {
            to: ("lucia@talento.example".into(), "Lucía".into()),
            reply_to: None,
            heading: c.text("reply.help_heading").into(),
            paragraphs: vec![c.text("reply.help_1").into()],
            items,
            attachments: vec![],
            dedupe_key: None,
            lang,
        })
        .unwrap()
}

fn digest(lang: Lang) -> Outgoing {
    let person = PersonLine {
        name: "Fernanda López".into(),
        email: "fernanda@example.com".into(),
        phone: "+525512345678".into(),
        campaign: "50210 Atención a Clientes".into(),
        time: "2026-12-01 09:00".into(),
    };
    let d = AgencyDigest {
        agency_id: "talento-mx".into(),
        agency_name: "Talento Azteca".into(),
        editor: None,
        since: "2026-11-30 08:00".into(),
        until: "2026-12-01 08:00".into(),
        timezone: "America/Mexico_City".into(),
        submissions: 2,
        rows: 5,
        counts_line:
            "new 2, previously_submitted 0, duplicate 1, blocked 0, review 1, repeated 0, \
                      invalid 1"
                .into(),
        counts: vec![OutcomeCount {
            outcome: "new",
            rows: 2,
        }],
        campaigns: vec![CampaignLine {
            id: "50210".into(),
            name: "Atención a Clientes".into(),
            rows: 5,
            new: 2,
            counts_line: "new 2".into(),
        }],
        decisions: vec![DecisionLine {
            time: "2026-11-30 10:00".into(),
            file_name: "candidatos.xlsx".into(),
            row: 4,
            name: "Diego Ramírez".into(),
            outcome: "new",
        }],
        new_candidates: vec![person.clone()],
        new_more: 1,
        expiring: vec![person],
        expiring_more: 1,
        lang,
    };
    composer()
        .agency_digest(
            &d,
            vec![Address::new("lucia@talento.example", "Lucía").unwrap()],
            None,
            None,
        )
        .unwrap()
}

fn review_decision(lang: Lang, outcome: &'static str) -> Outgoing {
    composer()
        .review_decision(&ReviewDecisionInput {
            row_id: 9,
            to: vec![("lucia@talento.example".into(), "Lucía".into())],
            lang,
            agency_name: "Talento Azteca".into(),
            file_name: "candidatos.xlsx".into(),
            row: 4,
            person: "Diego Ramírez".into(),
            outcome,
            reply_to: Some(ReplyTo {
                message_id: "<receipt@example.test>".into(),
                subject: "Acuse de recibo".into(),
            }),
        })
        .unwrap()
}

#[test]
fn every_message_kind_renders_in_every_language() {
    let mut english = Vec::new();
    for lang in Lang::ALL {
        let made = [
            ("receipt", receipt(lang)),
            ("invitation (admin)", invitation(lang, "admin")),
            ("invitation (editor)", invitation(lang, "editor")),
            ("reply", replies(lang)),
            ("agency digest", digest(lang)),
            ("review accepted", review_decision(lang, "new")),
            ("review rejected", review_decision(lang, "duplicate")),
        ];
        for (i, (kind, o)) in made.iter().enumerate() {
            let read = check(lang, kind, o);
            if lang == Lang::En {
                english.push(read);
            } else {
                assert_ne!(read.1, english[i].1, "{lang} {kind}: the English text");
            }
        }
        // The receipt: its counts line first, as in English, and the outcome codes as they are.
        let (_, text, html) = read(&made[0].1);
        assert_eq!(
            text.lines().next(),
            Some(
                "new 3, previously_submitted 1, duplicate 1, blocked 1, review 1, repeated 1, \
                 invalid 32"
            ),
            "{lang}: {text}"
        );
        for code in ["previously_submitted", "duplicate", "repeated", "invalid"] {
            assert!(text.contains(code) && html.contains(code), "{lang}: {code}");
        }
    }
}

#[test]
fn every_catalogue_text_fills_its_values() {
    let english = Catalogue::english();
    for lang in Lang::ALL {
        let c = Catalogue::shipped(lang);
        for key in english.keys() {
            let text = c.text(key);
            assert!(!text.trim().is_empty(), "{lang}: {key} is empty");
            let mut filled = text.to_string();
            while let (Some(a), Some(b)) = (filled.find('{'), filled.find('}')) {
                if b < a {
                    break;
                }
                filled.replace_range(a..=b, "x");
            }
            assert!(
                !filled.contains('{') && !filled.contains('}'),
                "{lang}: {key} has an unclosed placeholder: {text}"
            );
        }
    }
}

/// Why a file could not be read at all, in every language: every kind, no value left out.
#[test]
fn unreadable_files_are_explained_in_every_language() {
    use crate::header::HeaderError;
    use crate::sheet::SheetError;
    let sheet = [
        SheetError::Empty,
        SheetError::FileTooLarge { size: 9, max: 5 },
        SheetError::TooManyRows { max: 5 },
        SheetError::TooManyCells { max: 5 },
        SheetError::TooMuchData { max_mib: 5 },
        SheetError::ZipBomb { detail: "d".into() },
        SheetError::PasswordProtected,
        SheetError::Truncated { detail: "d".into() },
        SheetError::Malformed {
            format: "xlsx",
            detail: "d".into(),
        },
        SheetError::XmlDtd,
        SheetError::NotASpreadsheet {
            what: "a PDF".into(),
        },
        SheetError::NulBytes { offset: 3 },
        SheetError::Utf16WithoutBom,
        SheetError::UnclosedQuote { line: 4 },
        SheetError::CellTooLong {
            row: 2,
            column: "C".into(),
            max: 5,
        },
        SheetError::NoData { hidden: "" },
        SheetError::NoData {
            hidden: " (hidden)",
        },
    ];
    let header = HeaderError {
        sheet: Some("Hoja1".into()),
        row: Some(3),
        found: vec!["Nombre".into()],
        missing: vec![
            "a last name column (or one full-name column)",
            "an email or a phone column",
        ],
    };
    for lang in [Lang::Es, Lang::Pt] {
        let c = Catalogue::shipped(lang);
        for e in &sheet {
            let text = e.told().render(c);
            assert!(!text.contains('{'), "{lang}: {text}");
            assert_ne!(text, e.to_string(), "{lang}: {e:?}");
        }
        let text = header.render(c);
        assert!(
            !text.contains("{") && !text.contains("name column"),
            "{lang}: {text}"
        );
    }
    assert!(header.to_string().contains(
        "(missing a last name column (or one full-name column) and an email or a phone column)"
    ));
    assert_eq!(
        header.render(Catalogue::shipped(Lang::Es)),
        "no encontramos encabezados de columna en las primeras 20 filas de ninguna hoja. La más \
         parecida es la fila 3 de la hoja \"Hoja1\": \"Nombre\" (le falta una columna de apellido \
         (o una sola de nombre completo) y una columna de correo o de teléfono). Esperamos una \
         fila de encabezados con una columna de nombre y otra de apellido (o una sola de nombre \
         completo) y una columna de correo o de teléfono, por ejemplo: Nombre, Apellido, Correo, \
         Celular, Campaña. Use la plantilla adjunta o agregue esa fila de encabezados."
    );
}

#[test]
fn admins_get_the_sftp_details_editors_do_not() {
    for lang in Lang::ALL {
        let (_, admin_text, admin_html) = read(&invitation(lang, "admin"));
        for body in [&admin_text, &admin_html] {
            for shown in [
                "sftp.example.test",
                "2222",
                "ap-talento-mx",
                "sftp-key ssh-ed25519",
            ] {
                assert!(body.contains(shown), "{lang} admin: no {shown}\n{body}");
            }
            assert!(body.contains("WinSCP"), "{lang}: {body}");
        }
        let (_, editor_text, editor_html) = read(&invitation(lang, "editor"));
        for body in [&editor_text, &editor_html] {
            assert!(
                !body.contains("ap-talento-mx") && !body.contains("sftp-key"),
                "{lang} editor: {body}"
            );
        }
        if lang == Lang::En {
            eprintln!("{admin_text}");
        }
    }
    // No sftp_host: no SFTP part, for admins either.
    let mut c = composer();
    c.sftp = None;
    let o = c
        .invitation(&InvitationInput {
            email: "lucia@talento.example".into(),
            name: "Lucía".into(),
            role: "admin".into(),
            agency_id: "talento-mx".into(),
            agency_name: "Talento Azteca".into(),
            campaigns: vec![],
            lang: Lang::En,
        })
        .unwrap();
    assert!(!read(&o).1.contains("sftp-key"));
}
