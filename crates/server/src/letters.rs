//! Letters to readers: bilingual templates (minijinja, strict about variables), queued in the
//! outbox in the transaction of the change they tell about, sent over SMTP by the outbox job
//! with its retries, parked for staff when the mail server refuses them.

use std::collections::BTreeSet;

use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use store::{NewOutbox, Tx};
use time::OffsetDateTime;

use crate::Config;
use crate::flow::FlowError;

/// The letters librelay sends readers and staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LetterKind {
    /// Request received.
    RequestReceived,
    /// The request went to a lender.
    SentToLender,
    /// The lender set conditions: the reader is asked to answer.
    ConditionalNeedsAnswer,
    /// The lender shipped the item.
    Shipped,
    /// A loan arrived at the borrowing library: ready for pickup.
    ReadyForPickup,
    /// A copy was delivered: the reader's link.
    DocumentDelivered,
    /// A copy request was filled from where the text is available already (the library's
    /// licensed e-resource or open access): the link.
    AvailableNow,
    /// The loan is due in a few days.
    DueSoon,
    /// The loan is overdue.
    Overdue,
    /// The lender recalled the loan.
    Recalled,
    /// No lender could fill the request.
    Unfilled,
    /// The request was cancelled.
    Cancelled,
    /// A lending request was assigned to a staff member.
    Assigned,
    /// A reader's registration was approved.
    RegistrationApproved,
    /// A password reset link.
    PasswordReset,
    /// The day's letters of one person, in one mail.
    Digest,
    /// A request to an e-mail partner: every citation field, in both languages.
    PartnerRequest,
    /// A later message to an e-mail partner (cancel, renewal, returned ...), in both languages.
    PartnerMessage,
}

impl LetterKind {
    pub const ALL: &'static [LetterKind] = &[
        LetterKind::RequestReceived,
        LetterKind::SentToLender,
        LetterKind::ConditionalNeedsAnswer,
        LetterKind::Shipped,
        LetterKind::ReadyForPickup,
        LetterKind::DocumentDelivered,
        LetterKind::AvailableNow,
        LetterKind::DueSoon,
        LetterKind::Overdue,
        LetterKind::Recalled,
        LetterKind::Unfilled,
        LetterKind::Cancelled,
        LetterKind::Assigned,
        LetterKind::RegistrationApproved,
        LetterKind::PasswordReset,
        LetterKind::Digest,
        LetterKind::PartnerRequest,
        LetterKind::PartnerMessage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LetterKind::RequestReceived => "request_received",
            LetterKind::SentToLender => "sent_to_lender",
            LetterKind::ConditionalNeedsAnswer => "conditional_needs_answer",
            LetterKind::Shipped => "shipped",
            LetterKind::ReadyForPickup => "ready_for_pickup",
            LetterKind::DocumentDelivered => "document_delivered",
            LetterKind::AvailableNow => "available_now",
            LetterKind::DueSoon => "due_soon",
            LetterKind::Overdue => "overdue",
            LetterKind::Recalled => "recalled",
            LetterKind::Unfilled => "unfilled",
            LetterKind::Cancelled => "cancelled",
            LetterKind::Assigned => "assigned",
            LetterKind::RegistrationApproved => "registration_approved",
            LetterKind::PasswordReset => "password_reset",
            LetterKind::Digest => "digest",
            LetterKind::PartnerRequest => "partner_request",
            LetterKind::PartnerMessage => "partner_message",
        }
    }

    pub fn parse(s: &str) -> Option<LetterKind> {
        LetterKind::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// Letters that go out at once whatever the recipient chose: they answer something the
    /// person just did, or they are the digest itself.
    pub fn always_immediate(self) -> bool {
        matches!(
            self,
            LetterKind::PasswordReset | LetterKind::RegistrationApproved | LetterKind::Digest
        ) || self.for_partner()
    }

    /// Letters to e-mail partners (libraries), not to people: no one chooses how to get them.
    pub fn for_partner(self) -> bool {
        matches!(
            self,
            LetterKind::PartnerRequest | LetterKind::PartnerMessage
        )
    }
}

/// How a person wants one kind of letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    Immediately,
    DailyDigest,
    Never,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Immediately => "immediately",
            Delivery::DailyDigest => "daily_digest",
            Delivery::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<Delivery> {
        [
            Delivery::Immediately,
            Delivery::DailyDigest,
            Delivery::Never,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// The variables every letter may use; a template naming another is refused.
pub const VARIABLES: &[&str] = &[
    "reader_name",
    "recipient_name",
    "username",
    "lender_name",
    "days",
    "count",
    "letters",
    "library_name",
    "title",
    "request_id",
    "link",
    "expires",
    "views",
    "reason",
    "due_date",
    "source",
    "partner_name",
    "citation",
    "service_type",
    "need_by",
    "max_cost",
    "requester_address",
    "reply_to",
    "note",
    "action",
];

/// The default (subject, body) of a letter in a language (`zh-CN` or `en`).
pub fn default_template(kind: LetterKind, lang: &str) -> (&'static str, &'static str) {
    let zh = lang.starts_with("zh");
    match (kind, zh) {
        (LetterKind::RequestReceived, true) => (
            "馆际互借申请已收到：{{ title }}",
            "{{ reader_name }}，您好：\n\n我们已收到您的馆际互借申请《{{ title }}》（编号 {{ request_id }}），将尽快为您办理。\n\n{{ library_name }}",
        ),
        (LetterKind::RequestReceived, false) => (
            "Your interlibrary loan request: {{ title }}",
            "Dear {{ reader_name }},\n\nwe have received your request for \"{{ title }}\" (number {{ request_id }}) and are working on it.\n\n{{ library_name }}",
        ),
        (LetterKind::ReadyForPickup, true) => (
            "您申请的图书已到馆：{{ title }}",
            "{{ reader_name }}，您好：\n\n您申请的《{{ title }}》已到馆，请持证到馆际互借处领取。{% if due_date %}归还期限：{{ due_date }}。{% endif %}\n\n{{ library_name }}",
        ),
        (LetterKind::ReadyForPickup, false) => (
            "Ready for pickup: {{ title }}",
            "Dear {{ reader_name }},\n\n\"{{ title }}\" has arrived and is ready for pickup at the interlibrary loan desk.{% if due_date %} It is due back by {{ due_date }}.{% endif %}\n\n{{ library_name }}",
        ),
        (LetterKind::DocumentDelivered, true) => (
            "您申请的文献已送达：{{ title }}",
            "{{ reader_name }}，您好：\n\n您申请的《{{ title }}》已送达，请通过以下链接查看（仅限本人使用{% if views %}，最多打开 {{ views }} 次{% endif %}，{{ expires }} 前有效）：\n\n{{ link }}\n\n本文献仅供个人学习研究使用，请遵守著作权法。\n\n{{ library_name }}",
        ),
        (LetterKind::DocumentDelivered, false) => (
            "Your copy has arrived: {{ title }}",
            "Dear {{ reader_name }},\n\nyour copy of \"{{ title }}\" is ready. Open it with this link (for you only{% if views %}, at most {{ views }} times{% endif %}, until {{ expires }}):\n\n{{ link }}\n\nThe copy is for your private study and research; copyright law applies.\n\n{{ library_name }}",
        ),
        (LetterKind::AvailableNow, true) => (
            "您申请的文献可直接获取：{{ title }}",
            "{{ reader_name }}，您好：\n\n您申请的《{{ title }}》（编号 {{ request_id }}）{% if source == \"licensed\" %}在本馆订购的电子资源中{% else %}可开放获取，{% endif %}可直接通过以下链接阅读，无需等待馆际互借：\n\n{{ link }}\n\n{% if source == \"licensed\" %}如在校外访问，请先登录本馆的远程访问服务。{% endif %}\n\n{{ library_name }}",
        ),
        (LetterKind::AvailableNow, false) => (
            "Available to you now: {{ title }}",
            "Dear {{ reader_name }},\n\n\"{{ title }}\" (number {{ request_id }}) is available {% if source == \"licensed\" %}in an e-resource the library licenses{% else %}in open access{% endif %}: read it through this link, with no need to wait for interlibrary loan:\n\n{{ link }}\n\n{% if source == \"licensed\" %}Off campus, sign in to the library's remote access first.{% endif %}\n\n{{ library_name }}",
        ),
        (LetterKind::Unfilled, true) => (
            "很抱歉，未能为您借到：{{ title }}",
            "{{ reader_name }}，您好：\n\n很抱歉，合作馆均未能提供《{{ title }}》（编号 {{ request_id }}）。{% if reason %}原因：{{ reason }}。{% endif %}如有需要，请联系馆际互借处。\n\n{{ library_name }}",
        ),
        (LetterKind::Unfilled, false) => (
            "We could not obtain: {{ title }}",
            "Dear {{ reader_name }},\n\nwe are sorry: none of our partner libraries could supply \"{{ title }}\" (number {{ request_id }}).{% if reason %} Reason: {{ reason }}.{% endif %} Please contact the interlibrary loan desk if you need help.\n\n{{ library_name }}",
        ),
        (LetterKind::Cancelled, true) => (
            "馆际互借申请已取消：{{ title }}",
            "{{ reader_name }}，您好：\n\n您的申请《{{ title }}》（编号 {{ request_id }}）已取消。\n\n{{ library_name }}",
        ),
        (LetterKind::Cancelled, false) => (
            "Request cancelled: {{ title }}",
            "Dear {{ reader_name }},\n\nyour request for \"{{ title }}\" (number {{ request_id }}) has been cancelled.\n\n{{ library_name }}",
        ),
        (LetterKind::SentToLender, true) => (
            "您的申请已发往合作馆：{{ title }}",
            "{{ reader_name }}，您好：\n\n您申请的《{{ title }}》（编号 {{ request_id }}）已发往{% if lender_name %}{{ lender_name }}{% else %}合作馆{% endif %}，请耐心等待对方答复。\n\n{{ library_name }}",
        ),
        (LetterKind::SentToLender, false) => (
            "Your request went to a partner library: {{ title }}",
            "Dear {{ reader_name }},\n\nyour request for \"{{ title }}\" (number {{ request_id }}) has been sent to {% if lender_name %}{{ lender_name }}{% else %}a partner library{% endif %}. We will let you know when it answers.\n\n{{ library_name }}",
        ),
        (LetterKind::ConditionalNeedsAnswer, true) => (
            "请答复出借馆的条件：{{ title }}",
            "{{ reader_name }}，您好：\n\n{% if lender_name %}{{ lender_name }}{% else %}出借馆{% endif %}愿意提供《{{ title }}》（编号 {{ request_id }}），但附有条件{% if reason %}：{{ reason }}{% endif %}。\n\n请登录馆际互借系统或联系馆际互借处，告知是否接受。\n\n{{ library_name }}",
        ),
        (LetterKind::ConditionalNeedsAnswer, false) => (
            "Conditions need your answer: {{ title }}",
            "Dear {{ reader_name }},\n\n{% if lender_name %}{{ lender_name }}{% else %}the lender{% endif %} can supply \"{{ title }}\" (number {{ request_id }}) on conditions{% if reason %}: {{ reason }}{% endif %}.\n\nPlease log in or contact the interlibrary loan desk to say whether you accept them.\n\n{{ library_name }}",
        ),
        (LetterKind::Shipped, true) => (
            "出借馆已寄出：{{ title }}",
            "{{ reader_name }}，您好：\n\n{% if lender_name %}{{ lender_name }}{% else %}出借馆{% endif %}已寄出您申请的《{{ title }}》（编号 {{ request_id }}），到馆后我们会再通知您。\n\n{{ library_name }}",
        ),
        (LetterKind::Shipped, false) => (
            "On its way: {{ title }}",
            "Dear {{ reader_name }},\n\n{% if lender_name %}{{ lender_name }}{% else %}the lender{% endif %} has shipped \"{{ title }}\" (number {{ request_id }}). We will write again when it arrives.\n\n{{ library_name }}",
        ),
        (LetterKind::DueSoon, true) => (
            "即将到期：{{ title }}",
            "{{ reader_name }}，您好：\n\n您借阅的《{{ title }}》（编号 {{ request_id }}）将于 {{ due_date }} 到期{% if days %}（还有 {{ days }} 天）{% endif %}，请按时归还或申请续借。\n\n{{ library_name }}",
        ),
        (LetterKind::DueSoon, false) => (
            "Due soon: {{ title }}",
            "Dear {{ reader_name }},\n\n\"{{ title }}\" (number {{ request_id }}) is due back on {{ due_date }}{% if days %} (in {{ days }} days){% endif %}. Please return it on time or ask for a renewal.\n\n{{ library_name }}",
        ),
        (LetterKind::Overdue, true) => (
            "已逾期，请尽快归还：{{ title }}",
            "{{ reader_name }}，您好：\n\n您借阅的《{{ title }}》（编号 {{ request_id }}）已于 {{ due_date }} 到期，请尽快归还到馆际互借处。\n\n{{ library_name }}",
        ),
        (LetterKind::Overdue, false) => (
            "Overdue: {{ title }}",
            "Dear {{ reader_name }},\n\n\"{{ title }}\" (number {{ request_id }}) was due back on {{ due_date }}. Please return it to the interlibrary loan desk as soon as you can.\n\n{{ library_name }}",
        ),
        (LetterKind::Recalled, true) => (
            "出借馆召回图书：{{ title }}",
            "{{ reader_name }}，您好：\n\n{% if lender_name %}{{ lender_name }}{% else %}出借馆{% endif %}已召回《{{ title }}》（编号 {{ request_id }}），请尽快归还到馆际互借处。\n\n{{ library_name }}",
        ),
        (LetterKind::Recalled, false) => (
            "Recalled: {{ title }}",
            "Dear {{ reader_name }},\n\n{% if lender_name %}{{ lender_name }}{% else %}the lender{% endif %} has recalled \"{{ title }}\" (number {{ request_id }}). Please return it to the interlibrary loan desk as soon as you can.\n\n{{ library_name }}",
        ),
        (LetterKind::Assigned, true) => (
            "分配给您的馆际互借请求：{{ title }}",
            "{{ recipient_name }}，您好：\n\n请求《{{ title }}》（编号 {{ request_id }}）已分配给您处理。\n\n{{ library_name }}",
        ),
        (LetterKind::Assigned, false) => (
            "Assigned to you: {{ title }}",
            "Dear {{ recipient_name }},\n\nthe request for \"{{ title }}\" (number {{ request_id }}) has been assigned to you.\n\n{{ library_name }}",
        ),
        (LetterKind::RegistrationApproved, true) => (
            "您的馆际互借账户已开通",
            "{{ recipient_name }}，您好：\n\n您的账户 {{ username }} 已通过审核，现在可以登录并提交馆际互借申请。\n\n{{ library_name }}",
        ),
        (LetterKind::RegistrationApproved, false) => (
            "Your interlibrary loan account is ready",
            "Dear {{ recipient_name }},\n\nyour account {{ username }} has been approved: you can now log in and ask for items.\n\n{{ library_name }}",
        ),
        (LetterKind::PasswordReset, true) => (
            "重设密码",
            "{{ recipient_name }}，您好：\n\n有人请求重设账户 {{ username }} 的密码。如是您本人，请在 {{ expires }} 前打开以下链接设置新密码（仅可使用一次）：\n\n{{ link }}\n\n如非本人操作，请忽略此信，您的密码不会改变。\n\n{{ library_name }}",
        ),
        (LetterKind::PasswordReset, false) => (
            "Reset your password",
            "Dear {{ recipient_name }},\n\nsomeone asked to reset the password of the account {{ username }}. If it was you, open this link before {{ expires }} to choose a new password (it works once):\n\n{{ link }}\n\nIf it was not you, ignore this letter; your password stays as it is.\n\n{{ library_name }}",
        ),
        (LetterKind::Digest, true) => (
            "馆际互借每日汇总：{{ count }} 封通知",
            "{{ recipient_name }}，您好：\n\n以下是您今天的 {{ count }} 封馆际互借通知：\n\n{{ letters }}\n\n{{ library_name }}",
        ),
        (LetterKind::Digest, false) => (
            "Interlibrary loan daily digest: {{ count }} letters",
            "Dear {{ recipient_name }},\n\nhere are your {{ count }} interlibrary loan letters of the day:\n\n{{ letters }}\n\n{{ library_name }}",
        ),
        (LetterKind::PartnerRequest, true) => (
            "馆际互借申请：{{ title }}（{{ library_name }}）",
            "{{ partner_name }}：\n\n{{ library_name }}请求贵馆提供以下文献（{{ service_type }}）：\n\n{{ citation }}\n\n需要日期：{% if need_by %}{{ need_by }}{% else %}未指定{% endif %}\n最高费用：{% if max_cost %}{{ max_cost }}{% else %}未指定{% endif %}\n{% if note %}附言：{{ note }}\n{% endif %}\n请寄至：\n{{ requester_address }}\n\n请直接回复本邮件（回复地址 {{ reply_to }}），并保留申请编号 {{ request_id }}：告知能否提供、无法提供的原因、寄出日期与应还日期，或提供的条件。\n\n{{ library_name }} 馆际互借处",
        ),
        (LetterKind::PartnerRequest, false) => (
            "Interlibrary loan request: {{ title }} ({{ library_name }})",
            "Dear colleagues at {{ partner_name }},\n\n{{ library_name }} asks you to supply the following ({{ service_type }}):\n\n{{ citation }}\n\nNeeded by: {% if need_by %}{{ need_by }}{% else %}not given{% endif %}\nMaximum cost: {% if max_cost %}{{ max_cost }}{% else %}not given{% endif %}\n{% if note %}Note: {{ note }}\n{% endif %}\nPlease send it to:\n{{ requester_address }}\n\nPlease answer by replying to this mail (reply address {{ reply_to }}) and keep the request number {{ request_id }}: whether you can supply it, why not, when you shipped it and when it is due back, or your conditions.\n\n{{ library_name }}, Interlibrary Loan",
        ),
        (LetterKind::PartnerMessage, true) => (
            "{{ action }}：{{ title }}（编号 {{ request_id }}）",
            "{{ partner_name }}：\n\n关于馆际互借申请《{{ title }}》（编号 {{ request_id }}）：{{ action }}。\n{% if note %}\n附言：{{ note }}\n{% endif %}\n请直接回复本邮件（{{ reply_to }}）。\n\n{{ library_name }} 馆际互借处",
        ),
        (LetterKind::PartnerMessage, false) => (
            "{{ action }}: {{ title }} (number {{ request_id }})",
            "Dear colleagues at {{ partner_name }},\n\nabout the interlibrary loan request for \"{{ title }}\" (number {{ request_id }}): {{ action }}.\n{% if note %}\nNote: {{ note }}\n{% endif %}\nPlease answer by replying to this mail ({{ reply_to }}).\n\n{{ library_name }}, Interlibrary Loan",
        ),
    }
}

/// Why a template cannot be used, said in both languages: a syntax error (with its line), a
/// variable letters do not have, or an error when it is tried on sample variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateProblem {
    Syntax { line: Option<usize>, detail: String },
    UnknownVariables(Vec<String>),
    Render { line: Option<usize>, detail: String },
}

impl TemplateProblem {
    /// In English; `field` says where (`subject` or `body`).
    pub fn en(&self, field: &str) -> String {
        let at = |line: &Option<usize>| match line {
            Some(l) => format!("{field}, line {l}"),
            None => field.to_owned(),
        };
        match self {
            TemplateProblem::Syntax { line, detail } => {
                format!("{}: the template cannot be read: {detail}", at(line))
            }
            TemplateProblem::UnknownVariables(v) => format!(
                "{field}: unknown variables: {}; letters know {}",
                v.join(", "),
                VARIABLES.join(", ")
            ),
            TemplateProblem::Render { line, detail } => {
                format!(
                    "{}: the template fails on sample values: {detail}",
                    at(line)
                )
            }
        }
    }

    /// In Simplified Chinese.
    pub fn zh(&self, field: &str) -> String {
        let f = if field == "subject" {
            "主题"
        } else {
            "正文"
        };
        let at = |line: &Option<usize>| match line {
            Some(l) => format!("{f}第 {l} 行"),
            None => f.to_owned(),
        };
        match self {
            TemplateProblem::Syntax { line, detail } => {
                format!("{}：模板语法错误：{detail}", at(line))
            }
            TemplateProblem::UnknownVariables(v) => format!(
                "{f}：未知变量 {}；可用的变量有 {}",
                v.join("、"),
                VARIABLES.join("、")
            ),
            TemplateProblem::Render { line, detail } => {
                format!("{}：用示例值试排时出错：{detail}", at(line))
            }
        }
    }
}

/// Check a template: it must parse, name only known variables, and render with sample values.
pub fn check_template(source: &str) -> Result<(), TemplateProblem> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let syntax = |e: minijinja::Error| TemplateProblem::Syntax {
        line: e.line(),
        detail: e
            .detail()
            .map_or_else(|| e.kind().to_string(), str::to_owned),
    };
    env.add_template("t", source).map_err(syntax)?;
    let t = env.get_template("t").map_err(syntax)?;
    let unknown: BTreeSet<String> = t
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !VARIABLES.contains(&v.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(TemplateProblem::UnknownVariables(
            unknown.into_iter().collect(),
        ));
    }
    t.render(sample_vars("en"))
        .map(|_| ())
        .map_err(|e| TemplateProblem::Render {
            line: e.line(),
            detail: e
                .detail()
                .map_or_else(|| e.kind().to_string(), str::to_owned),
        })
}

/// Values for every variable, for previews and for trying a template before it is saved.
pub fn sample_vars(lang: &str) -> serde_json::Value {
    let zh = lang.starts_with("zh");
    serde_json::json!({
        "reader_name": if zh { "张三" } else { "Ann Reader" },
        "recipient_name": if zh { "张三" } else { "Ann Reader" },
        "username": "reader01",
        "library_name": if zh { "示例大学图书馆" } else { "Example University Library" },
        "lender_name": if zh { "示例出借馆" } else { "Example Lending Library" },
        "title": if zh { "红楼梦" } else { "Moby Dick" },
        "request_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "link": "https://ill.example.edu/d/EXAMPLE",
        "expires": "2026-12-31",
        "views": 5,
        "reason": if zh { "仅限馆内阅览" } else { "library use only" },
        "due_date": "2026-12-31",
        "source": "licensed",
        "days": 3,
        "count": 2,
        "letters": if zh { "（示例通知一）\n\n（示例通知二）" } else { "(first letter)\n\n(second letter)" },
        "partner_name": if zh { "示例文献传递中心" } else { "Example Document Supplier" },
        "citation": if zh { "题名：红楼梦\n著者：曹雪芹\nISBN：9787020002207" } else { "Title: Moby Dick\nAuthor: Melville, Herman\nISBN: 9780142437247" },
        "service_type": if zh { "借阅" } else { "loan" },
        "need_by": "2026-12-31",
        "max_cost": "50.00 CNY",
        "requester_address": if zh { "示例大学图书馆\n北京市海淀区示例路 1 号" } else { "Example University Library\n1 Example Road, Beijing" },
        "reply_to": "ill+0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.1@library.example.edu",
        "note": if zh { "请尽快寄出" } else { "please send soon" },
        "action": if zh { "请求续借" } else { "renewal requested" },
    })
}

/// Render a template with values; unknown names render empty (templates were checked).
pub fn render(source: &str, vars: &serde_json::Value) -> Result<String, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.render_str(source, vars).map_err(|e| e.to_string())
}

/// A letter as queued in the outbox (the payload, JSON): what to tell, to whom, about which
/// request. It is written out when sent, in the recipient's language at that moment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Queued {
    pub kind: LetterKind,
    /// The borrowing request it is about (empty for letters about an account).
    pub request_id: String,
    /// The recipient when it is not the request's reader (staff, an account's owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Variables besides those of the request (link, expires, views, reason).
    pub vars: serde_json::Value,
    /// For a digest: the letters it carries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Queued>,
}

/// Which request a letter is about: its library, id and reader.
pub struct About<'a> {
    pub library_id: &'a str,
    pub request_id: &'a str,
    pub patron_id: &'a str,
}

impl<'a> From<&'a store::BorrowRequest> for About<'a> {
    fn from(r: &'a store::BorrowRequest) -> Self {
        About {
            library_id: &r.library_id,
            request_id: &r.request_id,
            patron_id: &r.patron_id,
        }
    }
}

/// Queue `kind` for the reader of a borrowing request, in the caller's transaction (so the
/// letter exists exactly when the change it tells about does).
pub async fn queue(
    tx: &mut Tx<'_>,
    kind: LetterKind,
    req: About<'_>,
    vars: serde_json::Value,
    now: OffsetDateTime,
) -> Result<(), FlowError> {
    let queued = Queued {
        kind,
        request_id: req.request_id.to_owned(),
        user_id: None,
        vars,
        items: Vec::new(),
    };
    let recipient = format!("reader:{}", req.patron_id);
    insert(tx, req.library_id, req.request_id, &recipient, &queued, now).await
}

/// Queue `kind` for one person (staff or reader) in the caller's transaction; `request_id` is
/// what it is about, empty for letters about the account itself.
pub async fn queue_to_user(
    tx: &mut Tx<'_>,
    kind: LetterKind,
    library_id: &str,
    user_id: &str,
    request_id: &str,
    vars: serde_json::Value,
    now: OffsetDateTime,
) -> Result<(), FlowError> {
    let queued = Queued {
        kind,
        request_id: request_id.to_owned(),
        user_id: Some(user_id.to_owned()),
        vars,
        items: Vec::new(),
    };
    let recipient = format!("user:{user_id}");
    insert(tx, library_id, request_id, &recipient, &queued, now).await
}

/// Put a queued letter in the outbox, in the caller's transaction.
pub async fn insert(
    tx: &mut Tx<'_>,
    library_id: &str,
    request_id: &str,
    recipient: &str,
    queued: &Queued,
    now: OffsetDateTime,
) -> Result<(), FlowError> {
    let payload = serde_json::to_string(queued)
        .map_err(|e| FlowError::Store(store::StoreError::Corrupt(e.to_string())))?;
    tx.insert_outbox(
        &NewOutbox {
            library_id,
            request_id,
            side: "borrow",
            kind: "email",
            recipient,
            payload: &payload,
        },
        now,
    )
    .await?;
    Ok(())
}

/// The (subject, body) a library uses for `kind` in `lang`: its own, else the default.
pub async fn template_for(
    store: &store::Store,
    library_id: &str,
    kind: LetterKind,
    lang: &str,
) -> Result<(String, String), String> {
    match store
        .letter_template(library_id, kind.as_str(), lang)
        .await
        .map_err(|e| format!("template {} {lang}: {e}", kind.as_str()))?
    {
        Some(t) => Ok((t.subject, t.body)),
        None => {
            let (s, b) = default_template(kind, lang);
            Ok((s.to_owned(), b.to_owned()))
        }
    }
}

/// A queued letter as staff may see it: the secret of a password reset link is hidden (only
/// the account's owner may read it, in their mail).
pub fn redacted(payload: &str) -> String {
    match serde_json::from_str::<Queued>(payload) {
        Ok(mut q) if q.kind == LetterKind::PasswordReset => {
            if let Some(vars) = q.vars.as_object_mut() {
                vars.insert("link".to_owned(), "(hidden)".into());
            }
            serde_json::to_string(&q).unwrap_or_default()
        }
        _ => payload.to_owned(),
    }
}

/// A letter written out for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Letter {
    pub to: String,
    pub lang: &'static str,
    pub subject: String,
    pub body: String,
}

/// Who a queued letter goes to: the named user, else the reader of its request.
pub async fn recipient_of(store: &store::Store, queued: &Queued) -> Result<store::UserRow, String> {
    let user_id = match &queued.user_id {
        Some(u) => u.clone(),
        None => {
            store
                .borrow_request(&queued.request_id)
                .await
                .map_err(|e| format!("request {}: {e}", queued.request_id))?
                .patron_id
        }
    };
    store
        .user(&user_id)
        .await
        .map_err(|e| format!("recipient {user_id}: {e}"))
}

/// Write out one letter (not a digest) for `to` in `lang`: (subject, body).
async fn compose(
    store: &store::Store,
    config: &Config,
    queued: &Queued,
    to: &store::UserRow,
    lang: &'static str,
    extra: Option<serde_json::Value>,
) -> Result<(String, String), String> {
    let zh = lang == "zh-CN";
    let library = store
        .library(&to.library_id)
        .await
        .map_err(|e| format!("library {}: {e}", to.library_id))?;
    let name = |l: &store::LibraryRow| {
        if zh {
            l.name_zh.clone()
        } else {
            l.name_en.clone()
        }
    };
    let mut vars = serde_json::json!({
        "reader_name": to.display_name,
        "recipient_name": to.display_name,
        "username": to.username,
        "library_name": name(&library),
    });
    // Letters about a borrowing request carry its facts (whoever they go to).
    if !queued.request_id.is_empty()
        && let Ok(req) = store.borrow_request(&queued.request_id).await
    {
        let lender = match &req.lender_id {
            Some(l) => store.library(l).await.ok().map(|l| name(&l)),
            None => None,
        };
        if let Some(obj) = vars.as_object_mut() {
            obj.insert("title".into(), req.title.clone().into());
            obj.insert("request_id".into(), req.request_id.clone().into());
            obj.insert(
                "due_date".into(),
                req.due_date.map(|d| d.to_string()).into(),
            );
            obj.insert("lender_name".into(), lender.into());
        }
    }
    for more in [Some(queued.vars.clone()), extra].into_iter().flatten() {
        if let (Some(obj), serde_json::Value::Object(more)) = (vars.as_object_mut(), more) {
            obj.extend(more);
        }
    }
    if let Some(link) = vars
        .get("link")
        .and_then(|l| l.as_str())
        .filter(|l| l.starts_with('/'))
        .map(str::to_owned)
    {
        vars["link"] = serde_json::Value::String(format!("{}{link}", config.public_base()));
    }
    let (subject, body) = template_for(store, &to.library_id, queued.kind, lang).await?;
    Ok((render(&subject, &vars)?, render(&body, &vars)?))
}

/// The language letters to this person are written in.
pub fn lang_of(user: &store::UserRow) -> &'static str {
    if user.locale.starts_with("en") {
        "en"
    } else {
        "zh-CN"
    }
}

/// Write out a queued letter: None when the recipient has no address.
pub async fn write_out(
    store: &store::Store,
    config: &Config,
    queued: &Queued,
) -> Result<Option<Letter>, String> {
    let to = recipient_of(store, queued).await?;
    let Some(address) = to.email.clone().filter(|e| e.contains('@')) else {
        return Ok(None);
    };
    let lang = lang_of(&to);
    let (subject, body) = if queued.kind == LetterKind::Digest {
        let mut parts = Vec::new();
        for item in &queued.items {
            let (s, b) = compose(store, config, item, &to, lang, None).await?;
            parts.push(format!("== {s} ==\n\n{b}"));
        }
        let extra = serde_json::json!({
            "count": queued.items.len(),
            "letters": parts.join("\n\n"),
        });
        compose(store, config, queued, &to, lang, Some(extra)).await?
    } else {
        compose(store, config, queued, &to, lang, None).await?
    };
    Ok(Some(Letter {
        to: address,
        lang,
        subject,
        body,
    }))
}

/// How the recipient wants this letter: their choice for its kind, within what their library
/// allows; letters that must arrive go at once.
pub async fn delivery_for(
    store: &store::Store,
    queued: &Queued,
) -> Result<(Delivery, store::UserRow), String> {
    let to = recipient_of(store, queued).await?;
    if queued.kind.always_immediate() {
        return Ok((Delivery::Immediately, to));
    }
    let prefs = store
        .letter_preferences(&to.user_id)
        .await
        .map_err(|e| format!("letter preferences of {}: {e}", to.user_id))?;
    let chosen = prefs
        .iter()
        .find(|(k, _)| k == queued.kind.as_str())
        .and_then(|(_, d)| Delivery::parse(d))
        .unwrap_or(Delivery::Immediately);
    if chosen == Delivery::Never {
        let settings = store
            .letter_settings(&to.library_id)
            .await
            .map_err(|e| format!("letter settings of {}: {e}", to.library_id))?;
        if !settings.allow_never {
            return Ok((Delivery::Immediately, to));
        }
    }
    Ok((chosen, to))
}

/// What became of one attempt to send a letter.
pub enum Mailed {
    Sent(String),
    /// Nothing to send (no mail server, no address): closed with the reason.
    Skipped(String),
    /// The server refused it for good (a 5xx answer): park it.
    Refused(String),
    /// Try again later.
    Failed(String),
    /// The recipient wants it in their daily digest: (library, user, the queued letter).
    Held {
        library_id: String,
        user_id: String,
        payload: String,
    },
}

/// Write out and send one queued letter over SMTP.
pub async fn send(store: &store::Store, config: &Config, payload: &str) -> Mailed {
    use lettre::Message;
    use lettre::message::Mailbox;

    let queued: Queued = match serde_json::from_str(payload) {
        Ok(q) => q,
        Err(e) => return Mailed::Refused(format!("the queued letter cannot be read: {e}")),
    };
    match delivery_for(store, &queued).await {
        Ok((Delivery::Immediately, _)) => {}
        Ok((Delivery::DailyDigest, to)) => {
            return Mailed::Held {
                library_id: to.library_id,
                user_id: to.user_id,
                payload: payload.to_owned(),
            };
        }
        Ok((Delivery::Never, _)) => {
            return Mailed::Skipped(
                "not sent: the recipient turned this kind of letter off".to_owned(),
            );
        }
        Err(e) => return Mailed::Failed(format!("the letter cannot be addressed: {e}")),
    }
    if config.smtp_host.trim().is_empty() {
        return Mailed::Skipped("not sent: no mail server is configured (smtp_host)".to_owned());
    }
    let letter = match write_out(store, config, &queued).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            return Mailed::Skipped("not sent: the recipient has no e-mail address".to_owned());
        }
        Err(e) => return Mailed::Failed(format!("the letter cannot be written: {e}")),
    };
    let from: Mailbox = match config.mail_from.parse() {
        Ok(m) => m,
        Err(e) => return Mailed::Failed(format!("mail_from {:?}: {e}", config.mail_from)),
    };
    let to: Mailbox = match letter.to.parse() {
        Ok(m) => m,
        Err(e) => return Mailed::Refused(format!("address {:?}: {e}", letter.to)),
    };
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(letter.subject.clone());
    // A letter about a request names it in its Message-ID, so that a bounce quoting our
    // headers is filed on the request (see `inbound`).
    if !queued.request_id.is_empty() {
        builder = builder.message_id(Some(message_id(
            config,
            &format!("letter.{}", queued.request_id),
        )));
    }
    let message = match text_message(builder, &letter.body) {
        Ok(m) => m,
        Err(why) => return Mailed::Refused(why),
    };
    smtp_deliver(config, message).await
}

/// A Message-ID naming `what` (a request id, with a prefix), unique by a random part, at the
/// domain of our reply address.
pub fn message_id(config: &Config, what: &str) -> String {
    let domain = crate::inbound::reply_domain(config);
    format!("<{what}.{}@{domain}>", uuid::Uuid::new_v4().simple())
}

/// A plain-text mail with `body`: base64 keeps Chinese text intact through any mail server,
/// 8BITMIME or not.
pub fn text_message(
    builder: lettre::message::MessageBuilder,
    body: &str,
) -> Result<lettre::Message, String> {
    use lettre::message::Body;
    use lettre::message::header::{ContentTransferEncoding, ContentType};
    let body = Body::new_with_encoding(body.as_bytes().to_vec(), ContentTransferEncoding::Base64)
        .map_err(|_| "the letter body cannot be encoded".to_owned())?;
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("the letter cannot be built: {e}"))
}

/// Hand one mail to the configured SMTP server.
pub async fn smtp_deliver(config: &Config, message: lettre::Message) -> Mailed {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

    if config.smtp_host.trim().is_empty() {
        return Mailed::Skipped("not sent: no mail server is configured (smtp_host)".to_owned());
    }
    let host = config.smtp_host.trim();
    let builder = match config.smtp_tls.as_str() {
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        _ => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    };
    let mut builder = match builder {
        Ok(b) => b.port(config.smtp_port),
        Err(e) => return Mailed::Failed(format!("SMTP server {host}: {e}")),
    };
    if !config.smtp_username.is_empty() {
        builder = builder.credentials(Credentials::new(
            config.smtp_username.clone(),
            config.smtp_password.clone(),
        ));
    }
    let transport = builder
        .timeout(Some(std::time::Duration::from_secs(30)))
        .build();
    match transport.send(message).await {
        Ok(r) => Mailed::Sent(format!("{}", r.code())),
        Err(e) if e.is_permanent() => Mailed::Refused(format!("the mail server refused it: {e}")),
        Err(e) => Mailed::Failed(format!("sending mail failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_template_is_valid_in_both_languages() {
        for k in LetterKind::ALL {
            for lang in ["zh-CN", "en"] {
                let (s, b) = default_template(*k, lang);
                assert_eq!(check_template(s), Ok(()), "{k:?} {lang}");
                assert_eq!(check_template(b), Ok(()), "{k:?} {lang}");
                let out = render(b, &sample_vars(lang)).unwrap();
                assert!(!out.contains("{{"), "{k:?} {lang}: {out}");
            }
        }
    }

    #[test]
    fn unknown_variables_and_bad_syntax_are_refused() {
        let err = check_template("Hello {{ reader_nmae }}").unwrap_err();
        assert!(err.en("body").contains("reader_nmae"), "{err:?}");
        assert!(err.zh("body").contains("未知变量 reader_nmae"), "{err:?}");
        let err = check_template("Hello\n{% if %}").unwrap_err();
        assert!(err.en("subject").starts_with("subject, line 2:"), "{err:?}");
        assert!(err.zh("subject").starts_with("主题第 2 行"), "{err:?}");
        let err = check_template("{{ title|no_such_filter }}").unwrap_err();
        assert!(
            matches!(
                err,
                TemplateProblem::Render { .. } | TemplateProblem::Syntax { .. }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn letters_render_with_their_variables() {
        let (_, body) = default_template(LetterKind::DocumentDelivered, "en");
        let out = render(
            body,
            &serde_json::json!({"reader_name": "Ann", "title": "T", "link": "http://x/d/1",
                "expires": "2026-12-30", "views": 5, "library_name": "L"}),
        )
        .unwrap();
        assert!(
            out.contains("at most 5 times") && out.contains("http://x/d/1"),
            "{out}"
        );
    }
}
