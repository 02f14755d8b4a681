//! The web pages' message catalog: every user-facing string once, in English and Simplified
//! Chinese side by side, so a missing translation is a compile error rather than a blank.
//! State, action and event wording is matched on the machines' own enums for the same reason.

use domain::requester::{BorrowAction, BorrowState};
use domain::rota::{Rota, RotaOutcome};
use domain::supplier::{LendAction, LendState};

use crate::i18n::Locale;

macro_rules! catalog {
    ($($key:ident: $en:literal, $zh:literal;)+) => {
        /// One language's strings; `EN` and `ZH` are the two instances.
        #[derive(Debug)]
        pub struct Msg {
            $(pub $key: &'static str,)+
        }
        pub static EN: Msg = Msg { $($key: $en,)+ };
        pub static ZH: Msg = Msg { $($key: $zh,)+ };
    };
}

catalog! {
    lang: "en", "zh-CN";
    skip_to_content: "Skip to the content", "跳到正文";
    menu: "Main menu", "主菜单";
    language: "Language", "语言";
    nav_my_requests: "My requests", "我的请求";
    nav_new_request: "New request", "新建请求";
    nav_borrowing: "Borrowing queue", "借入队列";
    nav_lending: "Lending queue", "借出队列";
    log_in: "Log in", "登录";
    log_out: "Log out", "退出登录";
    signed_in_as: "Signed in as", "当前用户";
    login_title: "Log in to librelay", "登录 librelay";
    login_intro: "Readers and library staff log in with the account their library gave them.", "读者和馆员请使用图书馆分配的账户登录。";
    username: "Username", "用户名";
    password: "Password", "密码";
    login_failed: "Wrong username or password.", "用户名或密码错误。";
    account_inactive: "This account is not active: it is waiting for approval or has been suspended.", "此账户未启用：正在等待审批或已被停用。";
    logged_out: "You have logged out.", "您已退出登录。";
    login_needed: "Please log in to continue.", "请先登录。";
    form_title: "Ask for a loan or a copy", "申请借书或文献复制";
    format_label: "What do you need?", "您需要什么？";
    format_loan: "A loan of a book", "借阅图书";
    format_article_copy: "A copy of a journal article", "期刊文章复制";
    format_chapter_copy: "A copy of a book chapter", "图书章节复制";
    section_item: "The item", "文献信息";
    section_ids: "Identifiers, if you know them", "标识符（如已知）";
    section_needs: "Your needs", "您的要求";
    f_title: "Title (of the book, article or chapter)", "题名（图书、文章或章节）";
    f_author: "Author", "著者";
    f_source_title: "Journal or book the article or chapter is in", "文章或章节所在的期刊或图书";
    f_volume: "Volume", "卷";
    f_issue: "Issue", "期";
    f_year: "Year", "出版年";
    f_pages: "Pages", "页码";
    f_edition: "Edition", "版本";
    f_publisher: "Publisher", "出版者";
    f_isbn: "ISBN", "ISBN";
    f_issn: "ISSN", "ISSN";
    f_doi: "DOI", "DOI";
    f_pmid: "PubMed id (PMID)", "PubMed 编号（PMID）";
    f_need_by: "Needed by", "需要日期";
    f_max_cost: "The most you will pay, in yuan (CNY)", "可接受的最高费用（人民币元）";
    f_note: "Note to the library", "给图书馆的备注";
    f_copyright: "I need the copy for private study or research only.", "本人声明：复制件仅用于个人学习或研究。";
    hint_pages: "For example 12-34", "例如 12-34";
    hint_date: "YYYY-MM-DD", "格式 YYYY-MM-DD";
    hint_source_title: "Required for an article copy.", "申请期刊文章复制时必填。";
    optional: "optional", "选填";
    required: "required", "必填";
    submit_request: "Send the request", "提交请求";
    form_has_errors: "The request was not sent. Please correct the fields marked below:", "请求未提交。请更正下列字段：";
    prefilled: "Filled in from the link you followed. Please check the details before sending.", "已根据您打开的链接填写，请核对后提交。";
    lookup_label: "Fill in from a DOI, PMID or ISBN", "用 DOI、PMID 或 ISBN 自动填写";
    lookup_hint: "For example 10.1038/nature12373, PMID 23903748 or 978-7-02-000220-7.", "例如 10.1038/nature12373、PMID 23903748 或 978-7-02-000220-7。";
    lookup_button: "Look up", "查找";
    lookup_from_catalog: "Filled in from the union catalog. Please check the details before sending.", "已根据联合目录填写，请核对后提交。";
    lookup_from_crossref: "Filled in from Crossref. Please check the details before sending.", "已根据 Crossref 填写，请核对后提交。";
    lookup_from_pubmed: "Filled in from PubMed. Please check the details before sending.", "已根据 PubMed 填写，请核对后提交。";
    lookup_unrecognised: "This is not a DOI, a PMID or an ISBN (an ISBN's last digit is a check digit). Please check what you typed.", "这不是 DOI、PMID 或 ISBN（ISBN 最后一位是校验位），请检查输入。";
    lookup_not_found: "Nothing was found for this identifier. Please fill in the form yourself.", "未找到该标识符的记录，请手动填写表单。";
    lookup_failed: "The lookup service could not be reached. Try again later, or fill in the form yourself.", "无法连接查询服务。请稍后再试，或手动填写表单。";
    my_requests_title: "My requests", "我的请求";
    none_yet: "You have no requests yet.", "您还没有请求。";
    new_request_link: "Ask for a loan or a copy", "申请借书或复制";
    col_title: "Title", "题名";
    col_format: "Type", "类型";
    col_state: "Status", "状态";
    col_updated: "Last change", "最近更新";
    col_id: "Request id", "请求编号";
    col_actions: "Actions", "操作";
    col_reader: "Reader", "读者";
    col_borrower: "Borrowing library", "借入馆";
    col_lender: "Lending library", "出借馆";
    col_due: "Due back", "应还日期";
    request_sent: "Your request was sent to the library. It is listed below with what happens next.", "您的请求已提交给图书馆。处理进度见下方。";
    detail_title: "Request", "请求详情";
    citation_heading: "What was asked for", "所申请的文献";
    timeline: "What has happened", "处理经过";
    now_label: "Now:", "当前：";
    became_label: "Status then:", "此后状态：";
    cancel_pending: "You asked to cancel; the lending library has not answered yet.", "已申请取消，出借馆尚未答复。";
    renew_pending: "A renewal was asked for; the lending library has not answered yet.", "已申请续借，出借馆尚未答复。";
    overdue_flag: "Overdue: please return it.", "已逾期，请尽快归还。";
    recalled_flag: "Recalled by the lending library: please return it soon.", "出借馆已召回，请尽快归还。";
    no_actions: "Nothing to do for you at this stage.", "此阶段无需您操作。";
    action_done: "Done.", "操作完成。";
    back_to_list: "Back to the list", "返回列表";
    note_optional: "Note (optional)", "备注（选填）";
    by_reader: "you", "您";
    by_staff: "library staff", "馆员";
    by_peer: "partner library", "合作馆";
    by_system: "librelay", "系统";
    borrowing_title: "Borrowing queue", "借入队列";
    lending_title: "Lending queue", "借出队列";
    facets: "Status", "状态";
    facet_all: "All", "全部";
    facet_open: "Still open", "未结束";
    search_label: "Search by title or request id", "按题名或请求编号搜索";
    search_button: "Search", "搜索";
    no_matches: "No request matches.", "没有符合条件的请求。";
    found: "Requests found:", "找到的请求：";
    previous_page: "Previous page", "上一页";
    next_page: "Next page", "下一页";
    reason_label: "Reason", "原因";
    url_label: "Address of the copy (http or https)", "复制件地址（http 或 https）";
    rota_label: "Lender library codes in order, separated by commas", "出借馆代码，按顺序，用逗号分隔";
    barcode_label: "Item barcode", "条码";
    note_to_partner: "Note to the partner library", "给合作馆的说明";
    error_title: "Something went wrong", "出错了";
    err_not_found: "That page or request does not exist, or it is not yours to see.", "该页面或请求不存在，或您无权查看。";
    err_forbidden: "This page or action is not for your role.", "您的角色无权访问此页面或执行此操作。";
    err_cross_site: "The form was sent from another site and has been refused. Go back, reload the page and try again.", "该表单来自其他网站，已被拒绝。请返回并刷新页面后重试。";
    err_internal: "An error on our side. Quote this id when you report it:", "服务器出错。报告问题时请提供此编号：";
    err_bad_request: "The request was not understood:", "无法处理此请求：";
    err_conflict: "The request changed in the meantime. Reload the page and try again.", "该请求已被他人更改，请刷新页面后重试。";
    err_not_allowed: "That action is not possible at the request's current stage.", "该请求当前阶段不能执行此操作。";
    err_action_forbidden: "That action is for another role.", "此操作须由其他角色执行。";
    err_unknown_action: "Unknown action.", "未知操作。";
    home: "Home", "首页";
    err_bad_address: "A parameter of the address is not understood.", "地址中有无法识别的参数。";
    err_bad_form: "The form's contents could not be read.", "无法读取表单内容。";
    err_no_action: "The form did not say which action to take.", "表单未说明要执行的操作。";
    err_bad_back: "The page to return to is not an address on this site.", "要返回的页面不是本站地址。";
    err_bad_state: "This queue has no such status:", "此队列没有该状态：";
    err_not_bulk: "That action needs details and cannot be applied to several requests at once.", "该操作需要填写详情，不能批量执行。";
    err_bad_language: "The language must be 中文 (zh-CN) or English (en).", "语言须为中文（zh-CN）或 English（en）。";
    slip_title: "Pick slip", "取书单";
    slip_sheet: "Pick slips", "取书单";
    slips_xlsx: "Pick slips of the selected (XLSX)", "所选请求的取书单（XLSX）";
    slips_xml: "Pick slips of the selected (XML)", "所选请求的取书单（XML）";
    scope_label: "Which requests", "请求范围";
    scope_active: "Active", "处理中";
    scope_completed: "Completed", "已结束";
    scope_all: "All", "全部";
    tasks_label: "Tasks", "待办";
    task_to_locate: "To locate", "待查找";
    task_to_ship_today: "To ship today", "今日待寄送";
    task_overdue: "Overdue", "已逾期";
    task_conditional: "Conditions awaiting an answer", "条件待答复";
    facet_state: "Status", "状态";
    facet_partner: "Requesting library", "借入馆";
    facet_format: "Requested format", "申请类型";
    facet_assignee: "Assignee", "负责人";
    facet_created: "Created", "创建时间";
    facet_modified: "Last change", "最近更新";
    facet_due: "Due back", "应还日期";
    facet_needed_by: "Needed by", "需要日期";
    facet_alerts: "Alerts", "提醒";
    age_today: "Today", "今天";
    age_week: "2 to 7 days ago", "2 至 7 天前";
    age_month: "8 to 30 days ago", "8 至 30 天前";
    age_older: "Longer ago", "更早";
    day_past: "Passed", "已过";
    day_today: "Today", "今天";
    day_week: "Within 7 days", "7 天内";
    day_later: "Later", "更晚";
    day_none: "No date", "无日期";
    alert_overdue: "Overdue", "已逾期";
    alert_conditional: "Conditions awaiting an answer", "条件待答复";
    alert_message_error: "Message to the partner failed", "发给合作馆的消息出错";
    alert_renew_pending: "Renewal asked for", "申请续借";
    unassigned: "Unassigned", "未分配";
    assigned_to_me: "Me", "我";
    active_filters: "Filtered by", "筛选条件";
    remove_filter: "remove", "移除";
    search_label_lending: "Search by title, request id, barcode or requesting library", "按题名、请求编号、条码或借入馆搜索";
    col_assignee: "Assignee", "负责人";
    assignment_heading: "Assignment", "分配";
    assigned_now: "Assigned to:", "当前负责人：";
    nobody: "nobody yet", "暂无";
    assign_to: "Assign to", "分配给";
    assign_button: "Assign", "分配";
    release_button: "Release", "释放";
    assign_note: "Note (up to 1,000 characters)", "备注（最多 1000 个字符）";
    bulk_assign: "Assign to the person chosen", "分配给所选馆员";
    bulk_release: "Release (nobody has them)", "释放（取消分配）";
    notes_heading: "Notes and messages", "备注与消息";
    note_label: "Note (up to 1,000 characters)", "备注（最多 1000 个字符）";
    note_send_to_partner: "Also send it to the partner library", "同时发给合作馆";
    add_note_button: "Add the note", "添加备注";
    slip_link: "Pick slip, ready to print", "取书单（可打印）";
    open_copy: "Open the delivered copy", "打开已送达的文献";
    slip_print_hint: "Print this page with the browser's Print command; only the slip is printed.", "请使用浏览器的“打印”功能打印本页，只会打印取书单。";
    back_to_request: "Back to the request", "返回请求";
    call_number: "Call number", "索书号";
    borrower_request_id: "Borrower's request id", "借入馆请求编号";
    received_at: "Received", "收到时间";
    bulk_label: "With the selected requests", "对所选请求";
    bulk_button: "Apply", "执行";
    bulk_select: "Select request", "选择请求";
    bulk_done: "Done:", "已完成：";
    bulk_refused: "not possible at their stage:", "当前阶段不允许：";
    bulk_none: "Select at least one request first.", "请先选择至少一个请求。";
    nav_request_for_reader: "Request for a reader", "代读者申请";
    section_reader: "The reader", "读者";
    f_patron: "Reader's username", "读者用户名";
    hint_patron: "The request is made in the reader's name and shows in their list.", "请求以该读者名义提交，并显示在其请求列表中。";
    err_patron_required: "Give the reader's username.", "请填写读者用户名。";
    err_patron_unknown: "No reader of this library has the username", "本馆没有此用户名的读者：";
    lenders_in_order: "Lending libraries, in order", "出借馆顺序";
    no_lenders: "none yet: change the lenders to add some", "暂无：请修改出借馆列表添加";
    lender_string: "Lender string and why", "出借馆顺序及理由";
    left_out: "Holders left out", "未列入的馆藏馆";
    lender_now: "has the request now", "当前处理中";
    time_zone_note: "Times are in UTC.", "时间为协调世界时（UTC）。";
    forgot_password: "Forgot your password?", "忘记密码？";
    reset_title: "Reset your password", "重设密码";
    reset_intro: "Give your username or your account's e-mail address: we will mail you a link to choose a new password. It works once, for one hour.", "请输入用户名或账户的电子邮箱地址，我们会寄给您设置新密码的链接，一小时内有效，仅可使用一次。";
    reset_login: "Username or e-mail address", "用户名或电子邮箱";
    reset_send: "Send the link", "发送链接";
    reset_sent: "If an account matches, a link to reset its password is on its way to its e-mail address.", "如有匹配的账户，重设密码的链接已发往该账户的电子邮箱。";
    reset_new_title: "Choose a new password", "设置新密码";
    new_password: "New password (at least 8 characters)", "新密码（至少 8 个字符）";
    new_password_again: "The new password again", "再次输入新密码";
    reset_save: "Set the password", "设置密码";
    reset_mismatch: "The two passwords differ.", "两次输入的密码不一致。";
    reset_too_short: "The password is too short: at least 8 characters.", "密码太短：至少 8 个字符。";
    reset_bad_link: "This link is unknown, already used or expired. Ask for a new one.", "此链接无效、已使用或已过期，请重新申请。";
    reset_done: "Your password is changed and every session of the account has ended. Log in with the new password.", "密码已更改，该账户的所有登录均已退出。请用新密码登录。";
}

impl Msg {
    pub fn for_locale(locale: Locale) -> &'static Msg {
        match locale {
            Locale::En => &EN,
            Locale::ZhCn => &ZH,
        }
    }

    fn is_zh(&self) -> bool {
        self.lang == ZH.lang
    }

    fn pick(&self, en: &'static str, zh: &'static str) -> &'static str {
        if self.is_zh() { zh } else { en }
    }

    pub fn format<'a>(&self, f: &'a str) -> &'a str {
        match f {
            "loan" => self.format_loan,
            "article_copy" => self.format_article_copy,
            "chapter_copy" => self.format_chapter_copy,
            other => other,
        }
    }

    pub fn actor<'a>(&self, a: &'a str) -> &'a str {
        match a {
            "patron" => self.by_reader,
            "staff" => self.by_staff,
            "peer" => self.by_peer,
            "system" => self.by_system,
            other => other,
        }
    }

    /// A borrowing request's stage, in words a reader understands.
    pub fn borrow_state<'a>(&self, s: &'a str) -> &'a str {
        use BorrowState::*;
        let Some(state) = BorrowState::parse(s) else {
            return s;
        };
        let (en, zh) = match state {
            PendingReview => ("Being checked by the library", "图书馆审核中"),
            Sent => ("Sent to a lending library", "已发往出借馆"),
            ExpectToSupply => (
                "The lending library expects to supply it",
                "出借馆预计可以提供",
            ),
            WillSupply => ("The lending library will supply it", "出借馆将提供"),
            ConditionalPending => ("The lending library set conditions", "出借馆提出了条件"),
            Shipped => ("On its way to the library", "正在寄送途中"),
            Received => ("Arrived at the library", "已到馆"),
            OnLoanToPatron => ("On loan to the reader", "已借给读者"),
            ReturnedByPatron => ("Returned by the reader", "读者已归还"),
            ReturnShipped => ("Sent back to the lending library", "已寄还出借馆"),
            Lost => ("Lost", "已丢失"),
            Completed => ("Completed", "已完成"),
            Unfilled => ("Could not be supplied", "未能满足"),
            Cancelled => ("Cancelled", "已取消"),
        };
        self.pick(en, zh)
    }

    pub fn lend_state<'a>(&self, s: &'a str) -> &'a str {
        use LendState::*;
        let Some(state) = LendState::parse(s) else {
            return s;
        };
        let (en, zh) = match state {
            RequestReceived => ("New, not yet answered", "新请求，尚未答复"),
            ExpectToSupply => ("Expected to supply", "预计可提供"),
            WillSupply => ("To pull and ship", "待取书寄送"),
            PickSlipPrinted => ("Pick slip printed", "已打印取书单"),
            ConditionalPending => (
                "Conditions offered, awaiting the answer",
                "已提出条件，待答复",
            ),
            Shipped => ("Shipped", "已寄出"),
            Overdue => ("Overdue", "已逾期"),
            Recalled => ("Recalled", "已召回"),
            ReturnShipped => ("Coming back", "归还途中"),
            Completed => ("Completed", "已完成"),
            CopyCompleted => ("Copy delivered", "复制件已交付"),
            CompletedWithoutReturn => ("Completed without return", "已完成（无需归还）"),
            Unfilled => ("Unfilled", "未能满足"),
            Cancelled => ("Cancelled", "已取消"),
        };
        self.pick(en, zh)
    }

    /// The button text of an action a person takes on a borrowing request.
    pub fn borrow_action<'a>(&self, a: &'a str) -> &'a str {
        use BorrowAction::*;
        let Some(action) = BorrowAction::parse(a) else {
            return a;
        };
        let (en, zh) = match action {
            Approve => ("Approve and send", "批准并发送"),
            EditRota => ("Change the lenders", "修改出借馆"),
            Cancel => ("Cancel the request", "取消请求"),
            AcceptConditions => ("Accept the conditions", "接受条件"),
            RejectConditions => ("Refuse the conditions", "拒绝条件"),
            Receive => ("Mark as received", "确认到馆"),
            LendToPatron => ("Lend to the reader", "借给读者"),
            DeliverToPatron => ("Deliver to the reader", "交付读者"),
            PatronReturn => ("Returned by the reader", "读者已归还"),
            ShipReturn => ("Send back to the lender", "寄还出借馆"),
            Renew => ("Ask to renew", "申请续借"),
            MarkLost => ("Mark as lost", "标记为丢失"),
            FillFromCopy => (
                "Fill from the copy already delivered",
                "用已交付的复制件满足",
            ),
            Reactivate => ("Reactivate", "重新激活"),
            _ => return self.borrow_event(a),
        };
        self.pick(en, zh)
    }

    pub fn lend_action<'a>(&self, a: &'a str) -> &'a str {
        use LendAction::*;
        let Some(action) = LendAction::parse(a) else {
            return a;
        };
        let (en, zh) = match action {
            WillSupply => ("Will supply", "将提供"),
            ExpectToSupply => ("Expect to supply", "预计可提供"),
            Conditional => ("Offer conditions", "提出条件"),
            Locate => ("Located", "已找到"),
            LocateFailed => ("Not found on the shelf", "未找到"),
            PrintPickSlip => ("Print pick slip", "打印取书单"),
            Reject => ("Reject", "拒绝"),
            ShipPhysical => ("Ship the item", "寄出图书"),
            ShipDigital => ("Send a digital copy", "发送电子复制件"),
            ShipNonReturnable => ("Ship, no return", "寄出（无需归还）"),
            AnswerRenewYes => ("Allow the renewal", "同意续借"),
            AnswerRenewNo => ("Refuse the renewal", "拒绝续借"),
            Recall => ("Recall", "召回"),
            MarkOverdue => ("Mark overdue", "标记逾期"),
            MarkLost => ("Mark lost", "标记丢失"),
            CheckIn => ("Check in", "归还入库"),
            Reactivate => ("Reactivate", "重新激活"),
            _ => return self.lend_event(a),
        };
        self.pick(en, zh)
    }

    /// One line of a borrowing request's timeline, in plain words.
    pub fn borrow_event<'a>(&self, a: &'a str) -> &'a str {
        use BorrowAction::*;
        if let Some(words) = self.desk_event(a) {
            return words;
        }
        match a {
            "create" => return self.pick("The request was placed", "提交了请求"),
            "copyright_warning" => {
                return self.pick(
                    "Over the library's copyright limit for this journal: staff must clear it before it is sent",
                    "超出本馆对该刊的版权复制限额：须经馆员版权审核后方可发送",
                );
            }
            "copyright_cleared" => {
                return self.pick("Copyright was cleared", "版权审核已通过");
            }
            "duplicate_found" => {
                return self.pick(
                    "This repeats an earlier request of the library",
                    "此请求与本馆此前的一个请求重复",
                );
            }
            "message_not_applied" => {
                return self.pick(
                    "A message from the partner did not fit the request's stage and was not applied",
                    "合作馆的一条消息与请求当前阶段不符，未予处理",
                );
            }
            _ => {}
        }
        let Some(action) = BorrowAction::parse(a) else {
            return a;
        };
        let (en, zh) = match action {
            Approve => (
                "The library checked the request and sent it to a lending library",
                "图书馆审核通过，已发往出借馆",
            ),
            EditRota => (
                "The library changed the list of lending libraries",
                "图书馆修改了出借馆列表",
            ),
            Cancel => ("Cancellation was asked for", "申请了取消"),
            AcceptConditions => (
                "The lending library's conditions were accepted",
                "接受了出借馆的条件",
            ),
            RejectConditions => (
                "The lending library's conditions were refused",
                "拒绝了出借馆的条件",
            ),
            Receive => ("It arrived at the library", "文献已到馆"),
            LendToPatron => ("It was lent to the reader", "已借给读者"),
            DeliverToPatron => ("The copy was delivered to the reader", "复制件已交付读者"),
            PatronReturn => ("The reader returned it", "读者已归还"),
            ShipReturn => ("It was sent back to the lending library", "已寄还出借馆"),
            Renew => ("A renewal was asked for", "申请了续借"),
            MarkLost => ("It was reported lost", "报告为丢失"),
            FillFromCopy => (
                "Filled at once from a copy the library had already delivered",
                "已用本馆此前交付的复制件直接满足",
            ),
            Reactivate => ("The request was reopened", "请求已重新激活"),
            LenderRequestReceived => (
                "The lending library received the request",
                "出借馆已收到请求",
            ),
            LenderExpectToSupply => (
                "The lending library expects to supply it",
                "出借馆预计可以提供",
            ),
            LenderWillSupply => ("The lending library will supply it", "出借馆将提供"),
            LenderConditional => ("The lending library set conditions", "出借馆提出了条件"),
            LenderLoaned => ("The lending library shipped it", "出借馆已寄出"),
            LenderCopyCompleted => (
                "The lending library delivered the copy",
                "出借馆已交付复制件",
            ),
            LenderUnfilled => ("A lending library could not supply it", "出借馆无法提供"),
            LenderCancelled => (
                "The lending library confirmed the cancellation",
                "出借馆确认取消",
            ),
            LenderCancelRefused => (
                "The lending library could not cancel: it is already on its way",
                "出借馆无法取消：文献已在途中",
            ),
            LenderOverdue => ("The lending library reports it overdue", "出借馆通知已逾期"),
            LenderRecalled => ("The lending library recalled it", "出借馆召回了文献"),
            LenderRenewYes => ("The renewal was granted", "续借已获同意"),
            LenderRenewNo => ("The renewal was refused", "续借被拒绝"),
            LenderLoanCompleted => (
                "The lending library checked it in: all done",
                "出借馆已收回，借阅完成",
            ),
            LenderCompletedWithoutReturn => (
                "The lending library closed it; no return needed",
                "出借馆已结束此请求，无需归还",
            ),
            LenderNotification => ("The lending library sent a message", "出借馆发来消息"),
            LenderDeadlinePassed => (
                "A lending library did not answer in time; the next one was asked",
                "出借馆未按时答复，已转向下一馆",
            ),
        };
        self.pick(en, zh)
    }

    pub fn lend_event<'a>(&self, a: &'a str) -> &'a str {
        use LendAction::*;
        if let Some(words) = self.desk_event(a) {
            return words;
        }
        match a {
            "request_received" => return self.pick("The request arrived", "收到请求"),
            "message_not_applied" => {
                return self.pick(
                    "A message from the partner did not fit the request's stage and was not applied",
                    "合作馆的一条消息与请求当前阶段不符，未予处理",
                );
            }
            _ => {}
        }
        let Some(action) = LendAction::parse(a) else {
            return a;
        };
        let (en, zh) = match action {
            WillSupply => ("Staff said we will supply it", "馆员答复将提供"),
            ExpectToSupply => ("Staff said we expect to supply it", "馆员答复预计可提供"),
            Conditional => ("Staff offered conditions", "馆员提出了条件"),
            Locate => ("It was located", "已找到文献"),
            LocateFailed => ("It could not be located", "未能找到文献"),
            PrintPickSlip => ("The pick slip was printed", "已打印取书单"),
            Reject => ("The request was rejected", "请求被拒绝"),
            ShipPhysical => ("It was shipped", "已寄出"),
            ShipDigital => ("A digital copy was sent", "已发送电子复制件"),
            ShipNonReturnable => ("It was shipped, no return needed", "已寄出，无需归还"),
            AnswerRenewYes => ("The renewal was allowed", "同意了续借"),
            AnswerRenewNo => ("The renewal was refused", "拒绝了续借"),
            Recall => ("It was recalled", "已召回"),
            MarkOverdue => ("It was marked overdue", "标记为逾期"),
            MarkLost => ("It was marked lost", "标记为丢失"),
            CheckIn => ("It was checked in", "已归还入库"),
            Reactivate => ("The request was reopened", "请求已重新激活"),
            BorrowerReceived => ("The borrowing library received it", "借入馆已收到"),
            BorrowerCancel => ("The borrowing library asked to cancel", "借入馆申请取消"),
            BorrowerRenew => ("The borrowing library asked to renew", "借入馆申请续借"),
            BorrowerShippedReturn => ("The borrowing library sent it back", "借入馆已寄还"),
            BorrowerShippedForward => ("The borrowing library sent it on", "借入馆已转寄"),
            BorrowerAcceptsConditions => (
                "The borrowing library accepted the conditions",
                "借入馆接受了条件",
            ),
            BorrowerNotification => ("The borrowing library sent a message", "借入馆发来消息"),
            BorrowerStatusRequest => (
                "The borrowing library asked for the status",
                "借入馆查询了状态",
            ),
        };
        self.pick(en, zh)
    }

    /// The desk's own events, the same on both sides.
    fn desk_event(&self, a: &str) -> Option<&'static str> {
        let (en, zh) = match a {
            "assign" => ("Assigned to a staff member", "已分配给馆员"),
            "release" => ("Released: nobody has it now", "已释放，暂无负责人"),
            "note" => ("Staff note", "馆员备注"),
            "note_to_partner" => ("Note sent to the partner library", "备注已发给合作馆"),
            _ => return None,
        };
        Some(self.pick(en, zh))
    }

    /// A facet value's words: buckets, alerts and tasks.
    pub fn bucket(&self, facet: &str, value: &str) -> Option<&'static str> {
        Some(match (facet, value) {
            ("created" | "modified", "today") => self.age_today,
            ("created" | "modified", "week") => self.age_week,
            ("created" | "modified", "month") => self.age_month,
            ("created" | "modified", "older") => self.age_older,
            ("due" | "needed_by", "past") => self.day_past,
            ("due" | "needed_by", "today") => self.day_today,
            ("due" | "needed_by", "week") => self.day_week,
            ("due" | "needed_by", "later") => self.day_later,
            ("due" | "needed_by", "none") => self.day_none,
            ("alert", "overdue") => self.alert_overdue,
            ("alert", "conditional") => self.alert_conditional,
            ("alert", "message_error") => self.alert_message_error,
            ("alert", "renew_pending") => self.alert_renew_pending,
            ("task", "to_locate") => self.task_to_locate,
            ("task", "to_ship_today") => self.task_to_ship_today,
            ("task", "overdue") => self.task_overdue,
            ("task", "conditional_awaiting_answer") => self.task_conditional,
            ("scope", "active") => self.scope_active,
            ("scope", "completed") => self.scope_completed,
            ("scope", "all") => self.scope_all,
            _ => return None,
        })
    }

    /// A facet's heading.
    pub fn facet_title(&self, facet: &str) -> &'static str {
        match facet {
            "state" => self.facet_state,
            "partner" => self.facet_partner,
            "format" => self.facet_format,
            "assignee" => self.facet_assignee,
            "created" => self.facet_created,
            "modified" => self.facet_modified,
            "due" => self.facet_due,
            "needed_by" => self.facet_needed_by,
            "alert" => self.facet_alerts,
            "task" => self.tasks_label,
            "scope" => self.scope_label,
            "q" => self.search_button,
            _ => self.facets,
        }
    }

    /// What a lender in the rota answered.
    pub fn rota_outcome(&self, o: RotaOutcome) -> &'static str {
        let (en, zh) = match o {
            RotaOutcome::Unfilled => ("could not supply", "无法提供"),
            RotaOutcome::NoAnswer => ("no answer in time", "未按时答复"),
            RotaOutcome::ConditionsRefused => ("conditions refused", "条件被拒绝"),
            RotaOutcome::Cancelled => ("cancelled", "已取消"),
            RotaOutcome::Skipped => ("skipped", "已跳过"),
        };
        self.pick(en, zh)
    }

    /// The lender string in one line: each library, with its answer where it gave one.
    pub fn rota_line(&self, rota: &Rota) -> String {
        if rota.entries.is_empty() {
            return self.no_lenders.to_owned();
        }
        rota.entries
            .iter()
            .map(|e| match e.outcome {
                Some(o) => format!("{} ({})", e.library, self.rota_outcome(o)),
                None => e.library.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" → ")
    }

    /// A field error in this language: the Chinese text keyed on the stable code where there is
    /// one, else the English message (which names the field and the problem).
    pub fn field_error(&self, field: &str, code: &str, english: &str) -> String {
        if self.is_zh() {
            crate::i18n::field_zh(field, code).unwrap_or_else(|| english.to_owned())
        } else {
            english.to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_and_action_has_words_in_both_languages() {
        for m in [&EN, &ZH] {
            for s in BorrowState::ALL {
                assert_ne!(m.borrow_state(s.as_str()), s.as_str(), "{s}");
            }
            for s in LendState::ALL {
                assert_ne!(m.lend_state(s.as_str()), s.as_str(), "{s}");
            }
            for a in BorrowAction::ALL {
                assert_ne!(m.borrow_action(a.as_str()), a.as_str(), "{a}");
                assert_ne!(m.borrow_event(a.as_str()), a.as_str(), "{a}");
            }
            for a in LendAction::ALL {
                assert_ne!(m.lend_action(a.as_str()), a.as_str(), "{a}");
                assert_ne!(m.lend_event(a.as_str()), a.as_str(), "{a}");
            }
        }
        assert_ne!(EN.borrow_state("sent"), ZH.borrow_state("sent"));
    }
}
