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
    f_express: "Express service", "加急服务";
    hint_express: "Ask the lender to hurry; it may charge an express fee.", "请出借馆加急处理；对方可能收取加急费。";
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
    retry_reason: "Why the lender offers other terms", "出借馆提出重试条件的原因";
    retry_cost: "Cost the lender offers", "出借馆报价";
    retry_after_label: "Not to be asked again before", "最早可重新申请日期";
    retry_before_label: "The offer holds until", "条件有效期至";
    retry_conditions: "Loan conditions offered", "出借馆提出的借阅条件";
    retry_formats: "Formats offered", "可提供的格式";
    retry_lender_note: "The lender's note on its terms", "出借馆对条件的说明";
    retry_cost_label: "Cost we would charge, e.g. 25.00 CNY", "本馆收费，例如 25.00 CNY";
    loan_condition_label: "Loan condition, e.g. LibraryUseOnly", "借阅条件，例如 LibraryUseOnly";
    forward_to_label: "Code of the library to pass it on to", "接手图书馆的代码";
    hold_by_lender_borrow: "Return held by the lender (do not send it back yet)", "出借馆要求暂缓归还（暂勿寄还）";
    hold_by_us_borrow: "We hold the return (the lender was told)", "本馆暂缓归还（已告知出借馆）";
    hold_by_us_lend: "We asked the borrower to hold the return", "本馆已要求借入馆暂缓归还";
    hold_by_borrower_lend: "The borrower holds the return", "借入馆暂缓归还";
    hold_since: "since", "始于";
    hold_set_by: "set by", "设置者";
    err_bad_cost: "The cost must be an amount and a currency, e.g. 25.00 CNY.", "费用应为金额加币种，例如 25.00 CNY。";
    url_label: "Address of the copy (http or https)", "复制件地址（http 或 https）";
    copy_file_label: "Or the copy itself (PDF, TIFF, JPEG, PNG or EPUB)", "或直接上传复制件（PDF、TIFF、JPEG、PNG 或 EPUB）";
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
    err_bad_date: "A date must be written YYYY-MM-DD.", "日期应写作 YYYY-MM-DD。";
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
    slip_mark_printed: "Mark as printed", "标记为已打印";
    slip_printed_at: "Marked as printed", "已标记为打印于";
    slip_not_printed: "Not marked as printed yet: after printing, mark it, so that the queue's “printed” facet counts it.", "尚未标记为已打印：打印后请标记，队列的“已打印”筛选才会计入。";
    slip_marked: "Marked as printed.", "已标记为已打印。";
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
    nav_readers: "Registrations", "读者注册审批";
    nav_admin: "Administration", "系统管理";
    no_account: "No account yet?", "还没有账户？";
    register_link: "Register as a reader", "注册为读者";
    register_title: "Register as a reader", "读者注册";
    register_intro: "Fill in the form; the library's staff check and approve your registration before you can log in.", "请填写下表；图书馆馆员审核通过后您即可登录。";
    register_submit: "Register", "提交注册";
    register_done: "Thank you for registering. You can log in once the library's staff have approved your account.", "注册已提交。图书馆馆员审核通过后，您即可登录。";
    err_username_taken: "That username is taken; please choose another.", "该用户名已被使用，请另选一个。";
    choose_one: "Choose…", "请选择…";
    f_library: "Library", "图书馆";
    f_display_name: "Full name", "姓名";
    f_email: "E-mail address", "电子邮箱";
    f_patron_type: "Reader type", "读者类型";
    f_department: "Department or school", "院系";
    f_locale: "Language of letters", "通知信语言";
    hint_username: "3 to 64 letters, digits, . _ - or @", "3 至 64 个字母、数字或 . _ - @";
    readers_title: "Registrations waiting for approval", "待审批的读者注册";
    readers_intro: "Readers who registered themselves. Approve to let them log in (they receive a welcome letter), or refuse.", "自行注册的读者。批准后即可登录（并收到欢迎信），也可拒绝。";
    registered_at: "Registered", "注册时间";
    approve_reader: "Approve", "批准";
    reject_reader: "Refuse", "拒绝";
    reader_approved: "The reader is approved and can log in.", "已批准，该读者现在可以登录。";
    reader_rejected: "The registration is refused.", "已拒绝该注册。";
    no_pending_readers: "No registration is waiting.", "没有待审批的注册。";
    status_pending: "Waiting for approval", "待审批";
    status_active: "Active", "已启用";
    status_suspended: "Disabled", "已停用";
    users_title: "Users and roles", "用户与角色";
    users_intro: "The accounts of your library: staff with their roles, and readers. Add staff, change roles, disable or enable an account.", "本馆的账户：馆员及其角色、读者。可添加馆员、修改角色、停用或启用账户。";
    add_staff: "Add a staff member", "添加馆员";
    f_roles: "Roles", "角色";
    f_roles_or_type: "Roles or reader type", "角色或读者类型";
    change_roles: "Change roles", "修改角色";
    disable_account: "Disable", "停用";
    enable_account: "Enable", "启用";
    kind_staff: "Staff", "馆员";
    kind_reader: "Reader", "读者";
    col_kind: "Kind", "类别";
    saved: "Saved.", "已保存。";
    save: "Save", "保存";
    yes: "yes", "是";
    no: "no", "否";
    admin_title: "Administration", "系统管理";
    col_page: "Page", "页面";
    col_what: "What it sets", "用途";
    partners_title: "Partners and their terms", "合作馆及其条款";
    partners_intro: "Partner libraries, the services and fees they grant, an import of a partner file.", "合作馆、其提供的服务与收费，以及合作馆文件导入。";
    partners_terms_for_us: "The terms shown are what each partner grants your library.", "所列条款为各合作馆给予本馆的条款。";
    partners_terms_default: "As a hub admin you set each partner's default terms for every library.", "作为联盟管理员，您设置的是各合作馆对所有图书馆的默认条款。";
    add_partner: "Add a partner", "添加合作馆";
    edit_partner: "Edit partner", "编辑合作馆";
    no_partners: "No partner library yet.", "尚无合作馆。";
    no_terms: "no terms for us", "无对本馆的条款";
    col_fees: "Fees (loan / copy)", "费用（借书／复制）";
    f_code: "Library code", "图书馆代码";
    hint_code: "2 to 16 letters, digits, - or _, e.g. PKU", "2 至 16 个字母、数字、- 或 _，例如 PKU";
    f_agency: "ISO 18626 agency id", "ISO 18626 机构标识";
    hint_agency: "TYPE:VALUE, e.g. ISIL:CN-100871", "类型:值，例如 ISIL:CN-100871";
    f_name: "Name", "名称";
    f_name_en: "Name in English", "英文名称";
    f_name_zh: "Name in Chinese", "中文名称";
    f_kind: "Kind of library", "图书馆类型";
    f_region: "Region", "地区";
    f_address: "Address", "地址";
    f_latitude: "Latitude", "纬度";
    f_longitude: "Longitude", "经度";
    hint_coordinates: "Decimal degrees, e.g. 39.9929 and 116.3059; both or neither. Routing prefers nearer lenders.", "十进制度数，例如 39.9929 和 116.3059；须同时填写或同时留空。路由优先选择较近的出借馆。";
    f_hub: "Hub (library code), if any", "所属中心馆（代码），如有";
    f_partner_utc_offset: "Its time (offset from UTC)", "所在时区（与 UTC 的时差）";
    hint_partner_utc_offset: "e.g. +08:00, +09:00, -05:00; empty: a new partner takes this library's time, a known one keeps its own", "如 +08:00、+09:00、-05:00；留空：新合作馆使用本馆时间，已有合作馆保持原值";
    f_services: "Services", "服务";
    service_loan: "Loans", "借书";
    service_copy: "Copies", "文献复制";
    f_currency: "Currency", "币种";
    hint_currency: "Three letters, e.g. CNY", "三个字母，例如 CNY";
    f_loan_fee: "Fee for a loan", "借书费用";
    f_copy_fee: "Fee for a copy", "复制费用";
    hint_fee: "e.g. 5.00; empty: free", "例如 5.00；留空表示免费";
    f_loan_days: "Loan period (days)", "借期（天）";
    hint_loan_days: "1 to 365", "1 至 365";
    f_answer_days: "Days to answer a request", "答复期限（开馆日）";
    hint_answer_days: "Opening days, 1 to 30", "开馆日，1 至 30";
    f_delivery_methods: "Delivery methods", "递送方式";
    f_payment_methods: "Payment methods", "付款方式";
    hint_list: "Separated by ; e.g. mail;courier", "用 ; 分隔，例如 mail;courier";
    f_closed_weekdays: "Closed every week on", "每周闭馆日";
    hint_weekdays: "e.g. saturday;sunday", "例如 saturday;sunday";
    f_closed_dates: "Closed on these dates", "闭馆日期";
    hint_dates: "YYYY-MM-DD separated by ;", "YYYY-MM-DD，用 ; 分隔";
    hint_dates_lines: "One date YYYY-MM-DD per line, e.g. 2026-10-01", "每行一个日期 YYYY-MM-DD，例如 2026-10-01";
    f_active: "Active", "启用";
    err_own_library: "This is your own library: its closed days are set on the closed days page.", "这是本馆自身：本馆闭馆日请在“闭馆日”页面设置。";
    err_partner_exists: "A library with this code exists already: edit it from the list instead.", "已有使用此代码的图书馆，请在列表中编辑。";
    import_title: "Import a partner file", "导入合作馆文件";
    import_intro: "Paste a CSV file (the first line names the columns) or a JSON array of partners. Partners are added, or updated in place by code; bad rows are listed by line and field and left out.", "粘贴 CSV 文件（第一行为列名）或合作馆 JSON 数组。按代码新增或更新合作馆；有错误的行按行号和字段列出并跳过。";
    import_file: "Partner file (CSV or JSON)", "合作馆文件（CSV 或 JSON）";
    import_hint: "Columns: code, agency, name_en, name_zh (required), kind, region, address, latitude, longitude, hub, services, currency, loan_fee, copy_fee, loan_days, answer_days, delivery_methods, payment_methods, closed_weekdays, closed_dates, active", "列：code、agency、name_en、name_zh（必需），kind、region、address、latitude、longitude、hub、services、currency、loan_fee、copy_fee、loan_days、answer_days、delivery_methods、payment_methods、closed_weekdays、closed_dates、active";
    import_button: "Import", "导入";
    import_rejected_rows: "Rows left out", "未导入的行";
    col_line: "Line", "行号";
    col_field: "Field", "字段";
    import_paste: "Or paste the file's contents here", "或在此粘贴文件内容";
    err_no_file: "Choose a file, or paste its contents.", "请选择文件，或粘贴文件内容。";
    err_not_utf8: "The file is not UTF-8 text: save it as CSV UTF-8 (or JSON) and try again.", "文件不是 UTF-8 文本：请另存为“CSV UTF-8”（或 JSON）后重试。";
    import_read: "Rows read:", "读取行数：";
    import_created: "added:", "新增：";
    import_updated: "updated:", "更新：";
    import_rejected: "rejected:", "拒绝：";
    holdings_title: "Upload holdings", "上传馆藏";
    holdings_intro: "Upload a library's holdings from a spreadsheet saved as CSV UTF-8 or tab-separated text. Each row joins the union record its ISBN, ISSN, OCLC number or title, author and year matches, or starts a new one; a row for a work the library already holds updates that holding in place. Bad rows are listed by line and field and left out; the rest are imported. Uploading the same file again changes nothing.", "从另存为“CSV UTF-8”或制表符分隔文本的表格上传某馆的馆藏。每行按 ISBN、ISSN、OCLC 号或题名、著者与出版年匹配联合目录记录，无匹配时新建记录；本馆已有馆藏的作品则就地更新该馆藏。有错误的行按行号和字段列出并跳过，其余照常导入。重复上传同一文件不会产生变化。";
    holdings_library: "Library", "图书馆";
    holdings_file: "Holdings file (CSV or tab-separated)", "馆藏文件（CSV 或制表符分隔）";
    holdings_hint: "First line: the columns, from isbn, issn, oclc, title, author, year, call_number, barcode, location; each row needs isbn, issn, oclc or title", "第一行为列名，可用 isbn、issn、oclc、title、author、year、call_number、barcode、location；每行须有 isbn、issn、oclc 或 title 之一";
    holdings_button: "Upload", "上传";
    holdings_err_library: "Choose a library whose holdings you may upload.", "请选择您有权上传馆藏的图书馆。";
    holdings_result: "{library} — rows read: {read} · holdings written: {holdings} · new union records: {new_records} · rows left out: {rejected}", "{library}——读取行数：{read} · 写入馆藏：{holdings} · 新建联合目录记录：{new_records} · 跳过行数：{rejected}";
    closed_title: "Closed days", "闭馆日";
    closed_intro: "The days your library is closed: due dates and answer deadlines skip them.", "本馆闭馆的日子：应还日期和答复期限会跳过这些日子。";
    routing_title: "Lender groups and routing", "出借馆组与路由";
    routing_intro: "Groups of lenders asked first, by tier, and the rules that send a new request at once without review.", "按优先级先询问的出借馆组，以及无需审核即发送新请求的规则。";
    f_groups: "Lender groups", "出借馆组";
    hint_groups: "One group per line: tier | name | library codes, e.g. 1 | Jing-Jin | XNU CPL (tier 1 is asked first).", "每行一个组：优先级 | 名称 | 馆代码，例如 1 | 京津 | XNU CPL（优先级 1 最先询问）。";
    f_rules: "Send at once, without review", "无需审核直接发送";
    hint_rules: "One rule per line: reader types | services | free, e.g. faculty phd | loan | free (an empty part means any; free: only when the first lender charges nothing). Reader types:", "每行一条规则：读者类型 | 服务 | free，例如 faculty phd | loan | free（留空表示不限；free：仅当第一出借馆免费时）。读者类型：";
    f_accept_delivery: "Delivery methods we accept", "本馆接受的递送方式";
    hint_accept_delivery: "Separated by commas, e.g. courier, url. Lenders that deliver only by other methods are left out; lenders that state none are asked after the others. Empty: any.", "用逗号分隔，例如 courier, url。仅以其他方式递送的出借馆不予考虑；未说明方式的出借馆排在其他馆之后。留空表示不限。";
    f_accept_payment: "Payment methods we use", "本馆使用的付款方式";
    hint_accept_payment: "Separated by commas, e.g. hub_clearing, invoice; the same rule as delivery. Empty: any.", "用逗号分隔，例如 hub_clearing, invoice；规则同递送方式。留空表示不限。";
    err_group_line: "write tier | name | library codes", "应为 优先级 | 名称 | 馆代码";
    err_group_tier: "the tier must be a whole number from 1 to 9", "优先级应为 1 至 9 的整数";
    err_rule_line: "write reader types | services | free", "应为 读者类型 | 服务 | free";
    err_rule_type: "not a reader type:", "不是读者类型：";
    err_rule_service: "not a service (loan or copy):", "不是服务（loan 或 copy）：";
    err_rule_free: "the last part must be free or empty, not", "最后一部分应为 free 或留空，而不是";
    f_express_within_days: "Express when needed within (days)", "需要日期在几天内按加急处理";
    hint_express_within_days: "A request whose need-by date is this many days away or sooner goes express, and the reader's form says so. Empty: 5 days; 0: never.", "需要日期距今不超过此天数的请求按加急处理，读者的申请表上会说明。留空为 5 天；0 表示从不。";
    err_express_within_days: "write a whole number of days from 0 to 60", "请填写 0 到 60 之间的整数天数";
    copyright_title: "Copyright terms", "版权条款";
    copyright_intro: "The declaration readers accept on copy requests, the rule of five, the compliance code and how far back duplicates are searched.", "读者申请复制时接受的声明、“五篇规则”、合规代码，以及重复请求的查找范围。";
    f_declaration_zh: "Declaration in Chinese", "中文版权声明";
    f_declaration_en: "Declaration in English", "英文版权声明";
    f_limit: "Copies per journal per calendar year", "每刊每年可复制篇数";
    hint_limit: "1 to 100; the next copy needs clearance", "1 至 100；超出后须经版权审核";
    f_window_years: "Articles younger than (years) count", "计入限额的文章出版年限（年）";
    hint_window_years: "1 to 50", "1 至 50";
    f_compliance: "Compliance code on outgoing requests", "发出请求的版权合规代码";
    ccg_label: "CCG: within the copyright guidelines", "CCG：符合版权指南";
    ccl_label: "CCL: under copyright law", "CCL：依据著作权法";
    f_duplicate_window: "Search earlier requests for duplicates (days back)", "查找重复请求的天数";
    hint_duplicate_window: "1 to 3650", "1 至 3650";
    delivery_title: "Delivery terms", "文献传递条款";
    delivery_intro: "How many times and for how many days a reader may open a delivered copy. Links issued later follow them.", "读者可打开已交付文献的次数和天数。此后发出的链接按此执行。";
    f_max_views: "Views allowed", "可打开次数";
    hint_max_views: "1 to 10; empty: no limit", "1 至 10；留空表示不限";
    f_days: "Days the link works", "链接有效天数";
    hint_days: "1 to 60", "1 至 60";
    f_trusted_senders: "Trusted senders", "可信发送方";
    hint_trusted_senders: "Partner library codes, separated by commas: copies they deliver go straight to the reader, with no staff step", "合作馆代码，以逗号分隔：这些馆交付的复制件将直接交给读者，无需馆员处理";
    available_heading: "Available already", "已可直接获取";
    available_intro_reader: "You can read this now, without waiting for interlibrary loan:", "您现在即可阅读，无需等待馆际互借：";
    available_intro_staff: "This request was found available before it was sent. Fill it from the link (the reader is given it and told), or approve it to send it on to a lender as usual.", "此请求在发送前被发现已可获取。可用该链接直接满足（读者将获得链接并收到通知），也可照常批准，发往出借馆。";
    source_licensed: "Licensed by the library", "本馆订购资源";
    source_open_access: "Open access", "开放获取";
    oa_unchecked: "Open access could not be checked", "未能查询开放获取情况";
    embargoed_until: "Licensed, but under embargo until {date}", "本馆已订购，但处于封锁期，{date} 起可获取";
    embargoed_reader: "The library licenses this journal, but this article is under the publisher's embargo until {date}: until then it is obtained from another library for you.", "本馆已订购该刊，但该文处于出版方的封锁期内，{date} 起方可在本馆资源中获取；在此之前将通过馆际互借为您获取。";
    col_link: "Link", "链接";
    col_where: "Where", "来源";
    col_reasons: "Why", "依据";
    open_link: "Open", "打开";
    fill_from_link: "Fill from this link", "用此链接满足";
    licences_title: "Licensed e-resources", "订购电子资源";
    licences_intro: "Upload the KBART file of a package the library licenses (tab-separated, KBART Phase II). New copy requests for its titles show the link to readers and staff. Uploading a package of the same name again replaces it.", "上传本馆订购资源包的 KBART 文件（制表符分隔，KBART 第二阶段格式）。此后针对其中题名的复制请求，将向读者和馆员显示全文链接。再次上传同名资源包将替换原有内容。";
    f_package: "Package", "资源包";
    hint_package: "The provider's collection name; the same name replaces the earlier upload", "数据库或合集名称；同名将替换此前上传的内容";
    f_kbart_file: "KBART file", "KBART 文件";
    import_kbart: "Import", "导入";
    col_package: "Package", "资源包";
    col_titles: "Titles", "题名数";
    col_imported: "Imported", "导入时间";
    no_packages: "No package imported yet.", "尚未导入任何资源包。";
    kbart_result: "Imported: {titles} titles from {read} lines ({replaced} replaced, {rejected} lines refused).", "已导入：共读取 {read} 行，导入 {titles} 个题名（替换原有 {replaced} 个，拒绝 {rejected} 行）。";
    kbart_errors: "Lines refused", "被拒绝的行";
    col_column: "Column", "列";
    col_problem: "Problem", "问题";
    review_heading: "Review", "审核";
    copyright_heading: "Copyright", "版权";
    earlier_copies: "Copies of this journal counted earlier this year", "本年度此前已计入的该刊复制篇数";
    copyright_standing: "Standing", "状态";
    clearance_heading: "Clear copyright", "版权审核";
    clearance_intro: "This copy is over the library's limit for the journal. Clear it to let it be approved and sent.", "此复制超出本馆对该刊的限额。审核放行后方可批准并发送。";
    f_method: "How it is cleared", "放行方式";
    clear_royalty: "Royalty paid", "已支付版税";
    clear_permission: "Permission from the rights holder", "已获权利人授权";
    clear_override: "Override, with the reason", "说明理由后放行";
    f_clear_note: "Reason or permission reference", "理由或授权编号";
    hint_clear_note: "Required for an override", "说明理由后放行时必填";
    f_royalty: "Royalty paid", "已付版税";
    hint_royalty: "For a royalty: the amount, e.g. 15.00", "支付版税时填写金额，例如 15.00";
    clear_submit: "Clear copyright", "审核放行";
    duplicate_heading: "This repeats an earlier request", "此请求与此前的请求重复";
    earlier_request: "Earlier request", "此前的请求";
    matched_by: "Matched by", "匹配依据";
    match_score: "Similarity", "相似度";
    fill_from_copy: "Fill from the delivered copy", "用已交付的复制件满足";
    fill_intro: "The copy delivered for the earlier request is still stored: the reader gets their own link at once, no lender is asked.", "此前请求交付的复制件仍在保存期内：读者将立即获得自己的链接，无需向出借馆申请。";
    no_copy_to_fill: "No delivered copy of the earlier request can be used.", "此前请求没有可用的已交付复制件。";
    fees_heading: "Fees recorded", "已记录的费用";
    col_service: "Service", "服务";
    col_amount: "Amount", "金额";
    col_basis: "Basis", "计费依据";
    col_when: "When", "时间";
    col_month: "Settlement month", "结算月份";
    fees_title: "Fee schedule", "收费标准";
    fees_intro: "What your library charges borrowers: rates per service, other rates for partner groups, and reciprocal groups that pay nothing.", "本馆向借入馆收取的费用：各项服务的费率、合作馆组的其他费率，以及互惠免费的馆组。";
    f_rate_loan: "Loan", "借书";
    f_rate_copy_flat: "Copy, flat", "复制（固定费）";
    f_rate_copy_per_page: "Copy, per page", "复制（每页）";
    f_rate_express: "Express surcharge", "加急附加费";
    hint_amount: "An amount such as 5.00; empty: nothing", "金额，例如 5.00；留空表示不收费";
    f_partner_groups: "Partner groups with other rates", "适用其他费率的合作馆组";
    hint_partner_groups: "One group per line: name | library codes | loan | copy flat | copy per page | express, e.g. Region | HTU CPL | 3.00 | 2.00 | 0.20 | 10.00", "每行一个组：名称 | 馆代码 | 借书 | 复制固定费 | 复制每页 | 加急，例如 地区 | HTU CPL | 3.00 | 2.00 | 0.20 | 10.00";
    f_reciprocal_groups: "Reciprocal groups (free)", "互惠馆组（免费）";
    hint_reciprocal_groups: "One group per line: name | library codes, e.g. Twins | BCU", "每行一个组：名称 | 馆代码，例如 互惠 | BCU";
    err_not_amount: "not an amount such as 5.00:", "不是金额（例如 5.00）：";
    err_partner_group_line: "write name | library codes | loan | copy flat | copy per page | express", "应为 名称 | 馆代码 | 借书 | 复制固定费 | 复制每页 | 加急";
    err_reciprocal_group_line: "write name | library codes", "应为 名称 | 馆代码";
    letters_title: "Letters", "通知信";
    letters_intro: "The letters readers and staff receive, in Chinese and English: your library's own wording, or the default.", "读者和馆员收到的通知信（中文和英文）：本馆自定的文字或默认文字。";
    col_letter: "Letter", "通知";
    col_source: "Wording", "文字来源";
    letter_custom: "Your library's own", "本馆自定";
    letter_default: "Default", "默认";
    f_subject: "Subject", "主题";
    f_body: "Body", "正文";
    preview_button: "Preview with sample values", "用示例值预览";
    preview_heading: "Preview", "预览";
    letter_variables: "A letter is a template: {{ variable }} inserts a value, {% if … %} … {% endif %} a part that depends on one. Variables:", "通知信是模板：{{ 变量 }} 插入值，{% if … %} … {% endif %} 按条件插入内容。可用变量：";
    letter_reset: "Back to the default", "恢复默认文字";
    letter_reset_intro: "Drop your library's wording of this letter and send the default again.", "删除本馆自定的文字，恢复使用默认文字。";
}

impl Msg {
    pub fn for_locale(locale: Locale) -> &'static Msg {
        match locale {
            Locale::En => &EN,
            Locale::ZhCn => &ZH,
        }
    }

    pub fn is_zh(&self) -> bool {
        self.lang == ZH.lang
    }

    pub fn pick(&self, en: &'static str, zh: &'static str) -> &'static str {
        if self.is_zh() { zh } else { en }
    }

    /// What a line of a communications thread is.
    pub fn thread_kind(&self, action: &str) -> &'static str {
        match action {
            "note_to_partner" => self.pick("To the partner", "发给合作馆"),
            "borrower_notification" | "lender_notification" => {
                self.pick("From the partner", "合作馆来信")
            }
            "thread_closed" => self.pick("Thread closed", "会话已关闭"),
            _ => self.pick("Staff response", "馆员答复"),
        }
    }

    /// Beside the express box: a need-by date within `days` days makes the request express.
    pub fn express_by_date(&self, days: u32) -> String {
        if self.is_zh() {
            format!(
                "需要日期在 {days} 天之内的请求按加急处理（普通速度难以及时送达），出借馆可能收取加急费。"
            )
        } else {
            let unit = if days == 1 { "day" } else { "days" };
            format!(
                "A need-by date within {days} {unit} makes the request express (normal speed would not make it), and the lender may charge an express fee."
            )
        }
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
            RetryOffered => (
                "The lending library could supply it on other terms",
                "出借馆可按其他条件提供",
            ),
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
            RetryPossible => ("Offered on other terms (retry possible)", "已提出重试条件"),
            Forwarded => ("Passed on to another library", "已转给其他图书馆"),
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
            AcceptRetry => ("Accept the terms and ask again", "接受条件并重新申请"),
            DeclineRetry => (
                "Decline the terms, ask the next lender",
                "拒绝条件，转向下一馆",
            ),
            Receive => ("Mark as received", "确认到馆"),
            LendToPatron => ("Lend to the reader", "借给读者"),
            DeliverToPatron => ("Deliver to the reader", "交付读者"),
            PatronReturn => ("Returned by the reader", "读者已归还"),
            ShipReturn => ("Send back to the lender", "寄还出借馆"),
            Renew => ("Ask to renew", "申请续借"),
            MarkLost => ("Mark as lost", "标记为丢失"),
            HoldReturn => (
                "Tell the lender we keep it a while (hold the return)",
                "告知出借馆暂缓归还",
            ),
            FillFromCopy => (
                "Fill from the copy already delivered",
                "用已交付的复制件满足",
            ),
            FillFromLink => (
                "Fill from the link where it is available",
                "用现有的全文链接满足",
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
            OfferRetry => ("Offer other terms (retry possible)", "提出重试条件"),
            Forward => ("Pass on to another library", "转给其他图书馆"),
            ShipPhysical => ("Ship the item", "寄出图书"),
            ShipDigital => ("Send a digital copy", "发送电子复制件"),
            ShipNonReturnable => ("Ship, no return", "寄出（无需归还）"),
            AnswerRenewYes => ("Allow the renewal", "同意续借"),
            AnswerRenewNo => ("Refuse the renewal", "拒绝续借"),
            Recall => ("Recall", "召回"),
            MarkOverdue => ("Mark overdue", "标记逾期"),
            MarkLost => ("Mark lost", "标记丢失"),
            CheckIn => ("Check in", "归还入库"),
            HoldReturn => ("Ask the borrower to hold the return", "请借入馆暂缓归还"),
            ReleaseHoldReturn => ("Let the borrower send it back", "通知借入馆可以归还"),
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
            "reader_charged" => {
                return self.pick(
                    "The reader's charge was recorded (who pays it is shown with the fees)",
                    "已记录读者费用（支付方式见费用部分）",
                );
            }
            "reader_charge_refunded" => {
                return self.pick(
                    "Reader charge refunded: the reader did not get the item",
                    "已退还读者费用：读者未收到所借资料",
                );
            }
            "deposit_short" => {
                return self.pick(
                    "The reader's deposit does not cover the expected charge: for staff to check",
                    "读者预存款不足以支付预计费用：请馆员核实",
                );
            }
            "deposit_covered" => {
                return self.pick(
                    "The reader's subsidy or deposit now covers the expected charge (or none is due): no review needed",
                    "读者的补贴或预存款现已足以支付预计费用（或已无需付费）：无需再核实",
                );
            }
            "licensed_available" => {
                return self.pick(
                    "Available already in an e-resource the library licenses",
                    "本馆已订购的电子资源中可获取全文",
                );
            }
            "licensed_embargoed" => {
                return self.pick(
                    "Licensed by the library, but the article is under the publisher's embargo",
                    "本馆已订购该刊，但该文尚处于出版方的封锁期内",
                );
            }
            "open_access_available" => {
                return self.pick("Available already in open access", "可开放获取全文");
            }
            "open_access_unchecked" => {
                return self.pick("Open access could not be checked", "未能查询开放获取情况");
            }
            "trusted_sender" => {
                return self.pick(
                    "Passed straight to the reader: the lending library is a trusted sender",
                    "出借馆为可信发送方：复制件已直接交付读者",
                );
            }
            "duplicate_found" => {
                return self.pick(
                    "This repeats an earlier request of the library",
                    "此请求与本馆此前的一个请求重复",
                );
            }
            "mail_received" => {
                return self.pick("Mail from the partner was received", "收到合作馆的邮件");
            }
            "mail_bounced" => {
                return self.pick(
                    "A mail about this request bounced",
                    "有关此请求的一封邮件被退回",
                );
            }
            "mail_refused" => {
                return self.pick(
                    "The mail server refused a mail about this request",
                    "邮件服务器拒收了有关此请求的一封邮件",
                );
            }
            "partner_answer_recorded" => {
                return self.pick(
                    "Staff recorded the e-mail partner's answer",
                    "馆员记录了邮件合作馆的答复",
                );
            }
            "message_not_applied" => {
                return self.pick(
                    "A message from the partner did not fit the request's stage and was not applied",
                    "合作馆的一条消息与请求当前阶段不符，未予处理",
                );
            }
            "lender_changed" => {
                return self.pick(
                    "The lending library passed the request on to another library, which now supplies it",
                    "出借馆已将请求转给另一图书馆，由其提供",
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
            AcceptRetry => (
                "The lending library's terms were accepted and the request sent again",
                "接受了出借馆的条件，已重新发出请求",
            ),
            DeclineRetry => (
                "The lending library's terms were declined",
                "拒绝了出借馆的重试条件",
            ),
            Receive => ("It arrived at the library", "文献已到馆"),
            LendToPatron => ("It was lent to the reader", "已借给读者"),
            DeliverToPatron => ("The copy was delivered to the reader", "复制件已交付读者"),
            PatronReturn => ("The reader returned it", "读者已归还"),
            ShipReturn => ("It was sent back to the lending library", "已寄还出借馆"),
            Renew => ("A renewal was asked for", "申请了续借"),
            MarkLost => ("It was reported lost", "报告为丢失"),
            HoldReturn => (
                "We told the lending library we keep it a while before sending it back",
                "已告知出借馆本馆暂缓归还，稍后寄还",
            ),
            FillFromCopy => (
                "Filled at once from a copy the library had already delivered",
                "已用本馆此前交付的复制件直接满足",
            ),
            FillFromLink => (
                "Filled at once: the reader was given the link where the text is available",
                "已直接满足：读者已获得可访问全文的链接",
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
            LenderRetryPossible => (
                "The lending library could supply it on other terms",
                "出借馆表示可按其他条件提供",
            ),
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
            LenderHoldReturn => (
                "The lending library asks us to keep it and not send it back until it says so",
                "出借馆要求暂缓归还，待其通知后再寄还",
            ),
            LenderReleaseHoldReturn => (
                "The lending library says it may be sent back now",
                "出借馆通知现在可以寄还",
            ),
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
            "copy_purged" => {
                return self.pick(
                    "The borrowing library fetched the copy and keeps its own: ours was deleted",
                    "借入馆已取走复制件并自行保存：本馆的副本已删除",
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
            OfferRetry => ("Staff offered other terms", "馆员提出了重试条件"),
            Forward => (
                "Staff passed the request on to another library",
                "馆员已将请求转给其他图书馆",
            ),
            ShipPhysical => ("It was shipped", "已寄出"),
            ShipDigital => ("A digital copy was sent", "已发送电子复制件"),
            ShipNonReturnable => ("It was shipped, no return needed", "已寄出，无需归还"),
            AnswerRenewYes => ("The renewal was allowed", "同意了续借"),
            AnswerRenewNo => ("The renewal was refused", "拒绝了续借"),
            Recall => ("It was recalled", "已召回"),
            MarkOverdue => ("It was marked overdue", "标记为逾期"),
            MarkLost => ("It was marked lost", "标记为丢失"),
            CheckIn => ("It was checked in", "已归还入库"),
            HoldReturn => (
                "We asked the borrowing library to hold the return",
                "已请借入馆暂缓归还",
            ),
            ReleaseHoldReturn => (
                "We told the borrowing library it may send it back",
                "已通知借入馆可以归还",
            ),
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
            BorrowerHoldReturn => (
                "The borrowing library keeps it a while longer before sending it back",
                "借入馆暂缓归还，稍后寄还",
            ),
            BorrowerLost => (
                "The borrowing library reports it lost: closed without return",
                "借入馆报告文献丢失：已结束，不再归还",
            ),
            ForwardRefused => (
                "The library we passed it on to refused it: the borrowing library was told we cannot supply it",
                "接手馆拒绝了转交的请求：已告知借入馆无法提供",
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
            "slip_printed" => ("Pick slip marked printed", "取书单已标记为已打印"),
            "thread_closed" => ("Message thread closed", "消息会话已关闭"),
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
            ("service_level", "express") => self.pick("Express", "加急"),
            ("service_level", "normal") => self.pick("Normal", "普通"),
            ("supplied_format", "physical") => self.pick("Physical", "实物"),
            ("supplied_format", "digital") => self.pick("Digital", "电子"),
            ("supplied_format", "non_returnable") => self.pick("Non-returnable", "无需归还"),
            ("supplied_format", "none") => self.pick("Not shipped yet", "尚未发送"),
            ("printed", "yes") => self.pick("Slip printed", "已打印取书单"),
            ("printed", "no") => self.pick("Slip not printed", "未打印取书单"),
            ("partner_notes", "waiting") => self.pick("Waiting for our answer", "待我方回复"),
            ("partner_notes", "answered") => self.pick("Answered or closed", "已回复或已关闭"),
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
            "service_level" => self.pick("Service level", "服务级别"),
            "supplied_format" => self.pick("Supplied format", "提供方式"),
            "printed" => self.pick("Pick slip", "取书单"),
            "label" => self.pick("Labels", "标签"),
            "partner_notes" => self.pick("Partner notes", "合作馆留言"),
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
            RotaOutcome::RetryDeclined => ("its terms declined", "其条件被拒绝"),
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
    /// A field error in this language: its own Chinese text where it has one, else as
    /// `field_error`.
    pub fn field_error_of(&self, e: &domain::citation::FieldError) -> String {
        match (&e.message_zh, self.is_zh()) {
            (Some(zh), true) => zh.clone(),
            _ => self.field_error(e.field, e.code, &e.message),
        }
    }

    /// A field error in this language from its parts (see `field_error_of`).
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
