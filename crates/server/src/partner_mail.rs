//! E-mail partners: libraries and suppliers that work by mail only. The flow talks to them in
//! ISO 18626 like to any partner; when the outbox delivers a message to one, it goes out as a
//! readable letter in Chinese and English (one mail), written from the library's templates
//! (`partner_request`, `partner_message`). Its reply address and subject carry the request's
//! id, so that the partner's answer comes back to the right request (see `inbound`).

use ::iso18626 as wire;
use domain::citation::{Citation, RequestFormat};
use domain::peer::PeerProfile;
use store::LibraryRow;

use crate::AppState;
use crate::letters::{LetterKind, Mailed};

/// A partner letter written out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerLetter {
    pub to: String,
    pub reply_to: String,
    /// The id the partner quotes: our request id and send number (`ID.N`).
    pub wire_id: String,
    pub subject: String,
    pub body: String,
}

/// Send one outbox message to an e-mail partner.
pub async fn send(
    st: &AppState,
    partner: &LibraryRow,
    profile: &PeerProfile,
    payload: &str,
) -> Mailed {
    use lettre::Message;
    use lettre::message::Mailbox;

    let Some(address) = profile.mail_address() else {
        return Mailed::Refused(format!(
            "the e-mail partner {} has no mail address in its profile (endpoint mailto:…)",
            partner.library_id
        ));
    };
    if st.config.smtp_host.trim().is_empty() {
        return Mailed::Refused(format!(
            "no mail server is configured (smtp_host): the letter to the e-mail partner {} cannot be sent",
            partner.library_id
        ));
    }
    let letter = match write(&st.store, &st.config, partner, address, payload).await {
        Ok(l) => l,
        Err(why) => return Mailed::Refused(why),
    };
    let from: Mailbox = match st.config.mail_from.parse() {
        Ok(m) => m,
        Err(e) => return Mailed::Failed(format!("mail_from {:?}: {e}", st.config.mail_from)),
    };
    let (to, reply_to): (Mailbox, Mailbox) = match (letter.to.parse(), letter.reply_to.parse()) {
        (Ok(t), Ok(r)) => (t, r),
        (Err(e), _) => return Mailed::Refused(format!("address {:?}: {e}", letter.to)),
        (_, Err(e)) => {
            return Mailed::Failed(format!(
                "reply address {:?} (mail_reply_to): {e}",
                letter.reply_to
            ));
        }
    };
    let builder = Message::builder()
        .from(from)
        .to(to)
        .reply_to(reply_to)
        .subject(letter.subject.clone())
        .message_id(Some(crate::letters::message_id(
            &st.config,
            &letter.wire_id,
        )));
    match crate::letters::text_message(builder, &letter.body) {
        Ok(m) => crate::letters::smtp_deliver(&st.config, m).await,
        Err(why) => Mailed::Refused(why),
    }
}

/// Everything a partner letter says, in one language.
struct Facts {
    kind: LetterKind,
    wire_id: String,
    title: String,
    note: Option<String>,
    action: Option<wire::Action>,
    status: Option<wire::Status>,
    service: Option<wire::ServiceType>,
    /// The request asks for express service (serviceLevel Express).
    express: bool,
    need_by: Option<String>,
    max_cost: Option<String>,
    citation: Option<(RequestFormat, Citation)>,
    bib: Option<wire::BibliographicInfo>,
    ours: LibraryRow,
}

/// Write the letter for `payload` (an ISO 18626 message as stored in the outbox).
pub async fn write(
    store: &store::Store,
    config: &crate::Config,
    partner: &LibraryRow,
    address: &str,
    payload: &str,
) -> Result<PartnerLetter, String> {
    let (msg, _) = wire::parse(payload.as_bytes())
        .map_err(|e| format!("the stored message cannot be read: {e}"))?;
    let h = msg.header();
    let (ours_agency, wire_id) = match &msg {
        wire::Message::SupplyingAgencyMessage(_) => (
            &h.supplying_agency_id,
            h.supplying_agency_request_id
                .clone()
                .unwrap_or_else(|| h.requesting_agency_request_id.clone()),
        ),
        _ => (
            &h.requesting_agency_id,
            h.requesting_agency_request_id.clone(),
        ),
    };
    let ours = store
        .library_by_agency(&ours_agency.agency_type, &ours_agency.value)
        .await
        .map_err(|e| format!("the sending library: {e}"))?
        .ok_or_else(|| {
            format!(
                "the sending agency {}:{} is not a library of this node",
                ours_agency.agency_type, ours_agency.value
            )
        })?;
    let (request_id, _) = crate::flow::borrow::parse_wire_id(&wire_id);
    let request = match &msg {
        wire::Message::SupplyingAgencyMessage(_) => None,
        _ => store
            .borrow_request(request_id)
            .await
            .ok()
            .filter(|r| r.library_id == ours.library_id),
    };
    let mut facts = Facts {
        kind: LetterKind::PartnerMessage,
        wire_id: wire_id.clone(),
        title: request
            .as_ref()
            .map(|r| r.title.clone())
            .unwrap_or_default(),
        note: None,
        action: None,
        status: None,
        service: None,
        express: false,
        need_by: None,
        max_cost: None,
        citation: request
            .as_ref()
            .and_then(|r| RequestFormat::parse(&r.format).map(|f| (f, r.citation.0.clone()))),
        bib: None,
        ours,
    };
    if let Some((_, c)) = &facts.citation {
        facts.need_by = c.need_by.map(|d| d.to_string());
        facts.max_cost = c.max_cost.as_ref().map(|m| m.to_string());
    }
    match &msg {
        wire::Message::Request(r) => {
            facts.kind = LetterKind::PartnerRequest;
            let service = r.service_info.as_ref();
            facts.service = service.map(|s| s.service_type);
            facts.express = domain::supplier::ServiceLevel::from_iso(
                service.and_then(|s| s.service_level.as_deref()),
            ) == domain::supplier::ServiceLevel::Express;
            facts.note = service.and_then(|s| s.note.clone());
            if let Some(d) = service.and_then(|s| s.need_before_date.as_deref()) {
                facts.need_by = Some(d.chars().take(10).collect());
            }
            // A retry names the cost the lender offered: that is the ceiling now.
            if let Some(c) = r
                .billing_info
                .as_ref()
                .and_then(|b| b.maximum_costs.as_ref())
            {
                facts.max_cost = Some(format!("{} {}", c.monetary_value, c.currency_code));
            }
            if facts.title.is_empty() {
                let b = &r.bibliographic_info;
                facts.title = b
                    .title_of_component
                    .clone()
                    .or_else(|| b.title.clone())
                    .unwrap_or_default();
            }
            facts.bib = Some(r.bibliographic_info.clone());
        }
        wire::Message::RequestingAgencyMessage(m) => {
            facts.action = Some(m.action);
            facts.note = m.note.clone();
        }
        wire::Message::SupplyingAgencyMessage(m) => {
            facts.status = Some(m.status_info.status);
            facts.note = m.message_info.note.clone();
        }
        other => {
            return Err(format!(
                "a {} is not sent to partners by mail",
                other.kind()
            ));
        }
    }
    let reply_to = crate::inbound::reply_address(config, &wire_id);
    let mut subjects = Vec::new();
    let mut bodies = Vec::new();
    for lang in ["zh-CN", "en"] {
        let vars = variables(&facts, partner, &reply_to, lang);
        let (subject, body) =
            crate::letters::template_for(store, &facts.ours.library_id, facts.kind, lang).await?;
        subjects.push(crate::letters::render(&subject, &vars)?);
        bodies.push(crate::letters::render(&body, &vars)?);
    }
    subjects.dedup();
    // The id goes in the subject whatever the template says: replies are matched by it.
    let subject = format!(
        "{} [ILL:{wire_id}]",
        subjects
            .iter()
            .map(|s| s.trim())
            .collect::<Vec<_>>()
            .join(" / ")
    );
    Ok(PartnerLetter {
        to: address.to_owned(),
        reply_to,
        wire_id,
        subject,
        body: bodies.join("\n\n----------------------------------------\n\n"),
    })
}

fn variables(f: &Facts, partner: &LibraryRow, reply_to: &str, lang: &str) -> serde_json::Value {
    let zh = lang == "zh-CN";
    let name = |l: &LibraryRow| {
        if zh {
            l.name_zh.clone()
        } else {
            l.name_en.clone()
        }
    };
    let service = f.service.or_else(|| {
        f.citation.as_ref().map(|(fmt, _)| {
            if fmt.is_copy() {
                wire::ServiceType::Copy
            } else {
                wire::ServiceType::Loan
            }
        })
    });
    let service = service.map(|s| match (s, zh) {
        (wire::ServiceType::Loan, true) => "借阅（返还式）",
        (wire::ServiceType::Loan, false) => "loan (to be returned)",
        (wire::ServiceType::Copy, true) => "复制（非返还式）",
        (wire::ServiceType::Copy, false) => "copy (not returned)",
        (wire::ServiceType::CopyOrLoan, true) => "复制或借阅",
        (wire::ServiceType::CopyOrLoan, false) => "copy or loan",
    });
    let service = service.map(|s| match (f.express, zh) {
        (true, true) => format!("{s}，加急"),
        (true, false) => format!("{s}, express service"),
        (false, _) => s.to_owned(),
    });
    let action = match (f.action, f.status) {
        (Some(a), _) => Some(action_text(a, zh).to_owned()),
        (None, Some(s)) => Some(if zh {
            format!("状态：{}", s.as_str())
        } else {
            format!("status {}", s.as_str())
        }),
        (None, None) => None,
    };
    let mut address = vec![name(&f.ours)];
    if !f.ours.address.trim().is_empty() {
        address.push(f.ours.address.trim().to_owned());
    }
    address.push(format!(
        "{} {}:{}",
        if zh { "机构代码" } else { "Agency id" },
        f.ours.agency_type,
        f.ours.agency_value
    ));
    serde_json::json!({
        "library_name": name(&f.ours),
        "partner_name": name(partner),
        "lender_name": name(partner),
        "title": f.title,
        "request_id": f.wire_id,
        "citation": citation_text(f, zh),
        "service_type": service,
        "need_by": f.need_by,
        "max_cost": f.max_cost,
        "requester_address": address.join("\n"),
        "reply_to": reply_to,
        "note": f.note.as_deref().map(str::trim).filter(|n| !n.is_empty()),
        "action": action,
    })
}

/// What a borrower's message asks of the partner, in words.
pub fn action_text(a: wire::Action, zh: bool) -> &'static str {
    match (a, zh) {
        (wire::Action::Cancel, true) => "我馆请求取消此申请，请告知能否取消",
        (wire::Action::Cancel, false) => {
            "we ask you to cancel this request; please tell us whether you can"
        }
        (wire::Action::Renew, true) => "我馆请求续借，请告知是否同意及新的应还日期",
        (wire::Action::Renew, false) => {
            "we ask to renew the loan; please tell us whether you agree and the new due date"
        }
        (wire::Action::ShippedReturn, true) => "我馆已将原件寄还",
        (wire::Action::ShippedReturn, false) => "we have shipped the item back to you",
        (wire::Action::Received, true) => "我馆已收到贵馆寄来的文献",
        (wire::Action::Received, false) => "we have received the item you sent",
        (wire::Action::StatusRequest, true) => "请告知此申请目前的状态",
        (wire::Action::StatusRequest, false) => "please tell us where this request stands",
        (wire::Action::ShippedForward, true) => "已转寄下一馆",
        (wire::Action::ShippedForward, false) => "forwarded to the next library",
        (wire::Action::Notification, true) => "附言",
        (wire::Action::Notification, false) => "a note from us",
        (wire::Action::HoldReturn, true) => "我馆暂缓归还此文献，归还时另行通知",
        (wire::Action::HoldReturn, false) => {
            "we are keeping the item for now and will tell you when we send it back"
        }
        (wire::Action::Lost, true) => "此文献在我馆遗失，无法归还",
        (wire::Action::Lost, false) => "the item has been lost at our end and cannot be returned",
    }
}

/// Every citation field the request has, a line each, labelled in the language.
fn citation_text(f: &Facts, zh: bool) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut add = |zh_label: &str, en_label: &str, value: Option<String>| {
        if let Some(v) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
            lines.push(format!(
                "{}{v}",
                if zh {
                    format!("{zh_label}：")
                } else {
                    format!("{en_label}: ")
                }
            ));
        }
    };
    if let Some((format, c)) = &f.citation {
        if format.is_copy() {
            let (zh_t, en_t) = if *format == RequestFormat::ChapterCopy {
                ("章节", "Chapter")
            } else {
                ("篇名", "Article")
            };
            add(zh_t, en_t, c.title.clone());
            add("著者", "Author", c.author.clone());
            add("刊名/书名", "Journal or book", c.source_title.clone());
        } else {
            add("题名", "Title", c.title.clone());
            add("著者", "Author", c.author.clone());
        }
        add("版本", "Edition", c.edition.clone());
        add("卷", "Volume", c.volume.clone());
        add("期", "Issue", c.issue.clone());
        add("页码", "Pages", c.pages.clone());
        add("出版年", "Year", c.year.clone());
        add("出版者", "Publisher", c.publisher.clone());
        add(
            "出版地",
            "Place of publication",
            c.place_of_publication.clone(),
        );
        add("ISBN", "ISBN", c.isbn.as_ref().map(|v| v.to_string()));
        add("ISSN", "ISSN", c.issn.as_ref().map(|v| v.to_string()));
        add("DOI", "DOI", c.doi.as_ref().map(|v| v.to_string()));
        add("PMID", "PMID", c.pmid.as_ref().map(|v| v.to_string()));
        add(
            "OCLC 号",
            "OCLC number",
            c.oclc_number.as_ref().map(|v| v.to_string()),
        );
        add("语种", "Language", c.language.clone());
        if format.is_copy() && c.copyright_declaration {
            add(
                "著作权声明",
                "Copyright",
                Some(
                    if zh {
                        "读者已声明复制件仅供个人学习研究使用"
                    } else {
                        "the reader declared the copy is for private study and research"
                    }
                    .to_owned(),
                ),
            );
        }
    } else if let Some(b) = &f.bib {
        add("篇名", "Article or chapter", b.title_of_component.clone());
        add("著者", "Author", b.author_of_component.clone());
        add("题名", "Title", b.title.clone());
        add("著者", "Author", b.author.clone());
        add("版本", "Edition", b.edition.clone());
        add("卷", "Volume", b.volume.clone());
        add("期", "Issue", b.issue.clone());
        add("页码", "Pages", b.pages_requested.clone());
        for id in &b.bibliographic_item_id {
            let code = id.bibliographic_item_identifier_code.clone();
            add(&code, &code, Some(id.bibliographic_item_identifier.clone()));
        }
    } else {
        add("题名", "Title", Some(f.title.clone()));
    }
    lines.join("\n")
}
