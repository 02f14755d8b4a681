//! The language of what the API says to people: negotiated from Accept-Language per request
//! (never process-wide), with error messages in Simplified Chinese and English. Codes stay
//! stable whatever the language; the web UI's message catalogs will grow from this one.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    En,
    ZhCn,
}

impl Locale {
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }
}

/// The first supported language in Accept-Language by quality; English when none is.
pub fn negotiate(accept_language: Option<&str>) -> Locale {
    let Some(header) = accept_language else {
        return Locale::En;
    };
    let mut best: Option<(f32, Locale)> = None;
    for part in header.split(',') {
        let mut pieces = part.trim().split(';');
        let tag = pieces
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let q = pieces
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|v| v.parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        let locale = if tag.starts_with("zh") {
            Some(Locale::ZhCn)
        } else if tag.starts_with("en") {
            Some(Locale::En)
        } else {
            None
        };
        if let Some(l) = locale.filter(|_| q > 0.0 && best.is_none_or(|(bq, _)| q > bq)) {
            best = Some((q, l));
        }
    }
    best.map_or(Locale::En, |(_, l)| l)
}

/// Chinese for an error code; `detail` is the JSON error object (state, allowed...).
fn error_zh(code: &str, detail: &Value) -> Option<String> {
    let list = |key: &str| {
        detail[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("、")
            })
            .unwrap_or_default()
    };
    Some(match code {
        "unauthenticated" => "需要登录：请在请求头中提供 Authorization: Bearer 令牌".to_owned(),
        "bad_credentials" => "用户名或密码错误".to_owned(),
        "forbidden" => "无权执行此操作".to_owned(),
        "not_found" => "未找到所请求的记录".to_owned(),
        "invalid_fields" => "请求中有无效字段".to_owned(),
        "bad_request" => "请求无效".to_owned(),
        "conflict" => "与现有数据冲突，请刷新后重试".to_owned(),
        "internal" => format!(
            "服务器内部错误；报告问题时请提供请求编号 {}",
            detail["request_id"].as_str().unwrap_or("")
        ),
        "action_not_allowed" => {
            let allowed = list("allowed");
            format!(
                "当前状态（{}）不允许此操作；现在可执行：{}",
                detail["state"].as_str().unwrap_or(""),
                if allowed.is_empty() {
                    "无".to_owned()
                } else {
                    allowed
                }
            )
        }
        "action_forbidden" => "此操作须由其他角色执行".to_owned(),
        "link_expired" => "此链接已过期，请联系图书馆重新发送".to_owned(),
        "link_revoked" => "此链接已被新链接取代，请向图书馆索取新链接".to_owned(),
        "view_limit_reached" => "此文献的打开次数已达到图书馆允许的上限".to_owned(),
        "file_purged" => "文献已在提供期满后删除".to_owned(),
        "file_missing" => "在文件存储中找不到此文献的副本，请联系图书馆重新发送".to_owned(),
        "empty_file" => "文件为空".to_owned(),
        "file_too_large" => "文件过大，超出允许的上限".to_owned(),
        "unsupported_file_type" => {
            "文件不是 PDF、TIFF、JPEG、PNG 或 EPUB 格式（按内容判断，而非文件名）".to_owned()
        }
        "copyright_clearance_required" => {
            "已达到本馆对该刊的版权复制限额：须先完成版权审核（支付版税、取得授权或说明理由后放行），方可发送".to_owned()
        }
        "no_delivered_copy" => "没有可用的已交付复制件来满足此请求".to_owned(),
        "month_closed_in_other_mode" => "该月已按另一种方式结算，不能再按此方式结算".to_owned(),
        "month_not_closed" => "该月尚未结算：请先结算该月".to_owned(),
        "amount_out_of_range" => "该月金额合计超出可表示的范围".to_owned(),
        "copy_not_fetched" => "无法从出借馆取得文献副本，请重试或请出借馆重新发送".to_owned(),
        _ => return None,
    })
}

fn field_label_zh(field: &str) -> &str {
    match field.trim_start_matches("citation.") {
        "title" => "题名",
        "trusted_senders" => "可信发送方",
        "source" => "来源",
        "author" => "著者",
        "source_title" => "刊名／书名",
        "volume" => "卷",
        "issue" => "期",
        "year" => "出版年",
        "pages" => "页码",
        "edition" => "版本",
        "publisher" => "出版者",
        "place_of_publication" => "出版地",
        "isbn" => "ISBN",
        "issn" => "ISSN",
        "doi" => "DOI",
        "pmid" => "PMID",
        "oclc_number" => "OCLC 号",
        "language" => "语种",
        "need_by" => "需要日期",
        "max_cost" => "最高费用",
        "patron_note" => "读者备注",
        "format" => "请求类型",
        "rota" => "出借馆列表",
        "username" => "用户名",
        "password" => "密码",
        "display_name" => "姓名",
        "patron_type" => "读者类型",
        "library" => "图书馆",
        "locale" => "语言",
        "body" => "请求内容",
        "system" => "对方系统",
        "endpoint" => "接收地址",
        "version" => "ISO 18626 版本",
        "auth" => "发送凭据",
        "inbound_auth" => "接收凭据",
        "error_style" => "错误应答方式",
        "status_map" => "状态映射",
        "reason_map" => "消息原因映射",
        "max_in_flight" => "并发消息数",
        "timeout_secs" => "超时秒数",
        "max_views" => "打开次数上限",
        "by" => "分组方式",
        "from" => "起始日期",
        "to" => "截止日期",
        "days" => "有效天数",
        "due_soon_days" => "到期提醒提前天数",
        "digest_hour" => "每日汇总发送时间（时）",
        "mail_addresses" => "本馆邮箱地址",
        "currency" => "币种",
        "counterparty" => "对方图书馆",
        "amount" => "金额",
        "reason" => "原因",
        "rates.loan" => "借书费",
        "rates.copy_flat" => "复制固定费",
        "rates.copy_per_page" => "复制每页费",
        "rates.express" => "加急附加费",
        "partner_groups" => "合作馆组",
        "partner_groups.name" => "合作馆组名称",
        "partner_groups.members" => "合作馆组成员",
        "partner_groups.rates.loan" => "合作馆组借书费",
        "partner_groups.rates.copy_flat" => "合作馆组复制固定费",
        "partner_groups.rates.copy_per_page" => "合作馆组复制每页费",
        "partner_groups.rates.express" => "合作馆组加急附加费",
        "reciprocal_groups.name" => "互惠馆组名称",
        "loan.mode" => "借书的读者收费方式",
        "loan.flat" => "借书的读者固定费用",
        "copy.mode" => "复制的读者收费方式",
        "copy.flat" => "复制的读者固定费用",
        "subsidies" => "补贴",
        "subsidies.patron_type" => "补贴的读者类型",
        "subsidies.loans" => "每年补贴借书册数",
        "subsidies.copies" => "每年补贴复制篇数",
        "reader" => "读者",
        "reciprocal_groups.members" => "互惠馆组成员",
        "month" => "月份",
        "mode" => "结算方式",
        "file" => "文件名",
        "email" => "电子邮箱",
        "department" => "院系",
        "roles" => "角色",
        "method" => "审核方式",
        "note" => "说明",
        "royalty_minor" | "royalty" => "版税金额",
        "limit" => "每刊每年复制限额",
        "window_years" => "计入限额的出版年限",
        "compliance" => "版权合规代码",
        "duplicate_window_days" => "重复请求查找天数",
        "declaration_en" => "英文版权声明",
        "declaration_zh" => "中文版权声明",
        "groups.name" => "出借馆组名称",
        "groups.tier" => "出借馆组优先级",
        "groups.members" => "出借馆组成员",
        "delivery_methods" => "本馆接受的递送方式",
        "payment_methods" => "本馆接受的付款方式",
        "express_within_days" => "按加急处理的需要日期天数",
        "closed_weekdays" => "每周闭馆日",
        "closed_dates" => "闭馆日期",
        "code" => "图书馆代码",
        "agency" => "机构标识",
        "name_en" => "英文名称",
        "name_zh" => "中文名称",
        "loan_fee" => "借书费",
        "copy_fee" => "复制费",
        "loan_days" => "借期天数",
        "answer_days" => "答复期限天数",
        "hub" => "所属中心馆",
        "utc_offset" => "时差",
        "subject" => "主题",
        "scope" => "请求范围（scope）",
        "task" => "待办（task）",
        "partner" => "借入馆（partner）",
        "created" => "创建时间（created）",
        "modified" => "最近更新（modified）",
        "due" => "应还日期（due）",
        "needed_by" => "需要日期（needed_by）",
        "alert" => "提醒（alert）",
        "service_level" => "服务级别（service_level）",
        "supplied_format" => "提供方式（supplied_format）",
        "printed" => "取书单（printed）",
        "label" => "标签（label）",
        "retry_reason" => "重试原因",
        "cost" => "对方收费",
        "retry_after" => "最早可重新申请日期",
        "retry_before" => "条件有效期至",
        "loan_condition" => "借阅条件",
        "item_format" => "可改提供的格式",
        other => other,
    }
}

pub(crate) fn field_zh(field: &str, code: &str) -> Option<String> {
    let f = field_label_zh(field);
    Some(match code {
        "required" => format!("{f}为必填项"),
        "too_long" => format!("{f}过长"),
        "too_short" => format!("{f}太短（至少 8 个字符）"),
        "invalid_year" => format!("{f}应为 1000 年至明年之间的年份"),
        "invalid_pages" => format!("{f}格式应类似 12-34"),
        "in_the_past" => format!("{f}不能早于今天"),
        "invalid_date" => format!("{f}应为 YYYY-MM-DD 格式"),
        "negative" => format!("{f}不能为负数"),
        "invalid_money" => format!("{f}金额或币种无效"),
        "invalid_isbn" => "ISBN 无效（位数或校验位不正确）".to_owned(),
        "invalid_issn" => "ISSN 无效（格式或校验位不正确）".to_owned(),
        "invalid_doi" => "DOI 无效，应类似 10.1000/xyz".to_owned(),
        "invalid_pmid" => "PMID 应为 1 至 8 位数字".to_owned(),
        "invalid_oclc_number" => "OCLC 号无效".to_owned(),
        "invalid_format" => {
            "请求类型应为 loan（借书）、article_copy（文章复制）或 chapter_copy（章节复制）"
                .to_owned()
        }
        "invalid_library_code" | "unknown_library" => format!("{f}中有未知的图书馆"),
        "invalid_username" => "用户名应为 3 至 64 个字母、数字或 . _ - @".to_owned(),
        "invalid_patron_type" => {
            "读者类型应为 faculty、phd、master、undergraduate、staff 或 external".to_owned()
        }
        "invalid_locale" => "语言应为 zh-CN 或 en".to_owned(),
        "invalid_json_shape" => "请求内容的结构不正确".to_owned(),
        "unknown_state" => "状态名称无效".to_owned(),
        "unknown_value" => format!("{f}的取值无法识别"),
        "invalid_url" => format!("{f}应为 http:// 或 https:// 开头的地址"),
        "invalid_mail_address" => format!("{f}应为电子邮件地址（如 mailto:ill@library.example）"),
        "invalid_header_name" => format!("{f}中的 HTTP 头名称无效"),
        "invalid_header_value" => format!("{f}中的 HTTP 头的值不能为空，也不能含控制字符"),
        "invalid_basic_auth" => format!("{f}需要不含冒号的用户名和密码"),
        "unknown_status" => format!("{f}两侧都必须是 ISO 18626 状态值"),
        "unknown_reason" => format!("{f}两侧都必须是 ISO 18626 消息原因值"),
        "out_of_range" => format!("{f}超出允许范围"),
        "retry_cost_required" => {
            format!("原因为 CostExceedsMaxCost（费用超出上限）时须填写{f}，例如 50.00 CNY")
        }
        "before_retry_after" => format!("{f}不能早于最早可重新申请日期"),
        "too_many_addresses" => format!("{f}最多 10 个"),
        "invalid_address" => {
            format!("{f}中有无效的邮箱地址；每行一个，例如 ill@library.example.edu")
        }
        // The error itself says which address and whose (`FieldError::message_zh`); this is
        // the fallback for a caller that has only the code.
        "address_taken" => format!("{f}中的地址已是另一图书馆或本节点自己的邮箱"),
        "node_mailbox" => format!("{f}中的地址是本节点自己的邮箱，不能登记为图书馆的地址"),
        "hub_domain_only" => format!("{f}中的地址属于本节点收信的域名，只有联盟管理员才能登记"),
        "unknown_grouping" => "分组方式应为 patron_type、department、reader、source、journal、partner、library、format、month 或 year".to_owned(),
        "unknown_format" => "格式应为 json、csv 或 xlsx".to_owned(),
        "unknown_scope" => "范围应为 library（本馆）或 hub（中心及其成员馆）".to_owned(),
        "before_from" => "结束日期不能早于开始日期".to_owned(),
        "reader_in_hub_scope" => "按读者分组仅限本馆：中心视图不列出其他馆的读者".to_owned(),
        "amount_too_large" => format!("{f}过大（一次更正最多 100,000,000.00）"),
        "claim_needs_hub" => "向其他馆收款的更正只能由中心管理员登记；本馆只能登记应付的金额（负数）".to_owned(),
        "outside_network" => format!("{f}不是同一中心的成员馆"),
        "invalid_currency" => format!("{f}应为三个字母的 ISO 4217 代码，例如 CNY"),
        "own_library" => format!("{f}不能包含出借馆自己"),
        "invalid_month" => format!("{f}应为 YYYY-MM 格式，例如 2026-11"),
        "future_month" => format!("{f}尚未开始，不能结算"),
        "unknown_file_format" => "文件名应为“馆代码.csv”“馆代码.xlsx”或“馆代码.pdf”".to_owned(),
        "same_library" => format!("{f}不能是本馆自己"),
        "zero_amount" => format!("{f}不能为零"),
        "over_balance" => format!("{f}超过读者预存款余额"),
        "deposit_too_large" => format!("{f}过大（一次最多 1,000,000.00）"),
        "unknown_mode" => "结算方式应为 bilateral（双边轧差）或 hub（中心清算）".to_owned(),
        "unknown_system" => {
            "对方系统应为 librelay、reshare、alma、worldshare、other 或 email".to_owned()
        }
        "unknown_version" => "版本应为 2017 或 2021".to_owned(),
        "unknown_error_style" => "错误应答方式应为 confirmation 或 http_400".to_owned(),
        // Routing settings and the partner file.
        "invalid_name" => format!("{f}应为 1 至 64 个字符"),
        "duplicate_name" => format!("{f}重复"),
        "invalid_method_name" => format!("{f}中每种方式应为 1 至 64 个字符"),
        "unknown_column" => "文件中有未知的列名".to_owned(),
        "missing_column" => "文件缺少必需的列（code、agency、name_en、name_zh）".to_owned(),
        "unclosed_quote" => "文件中有未闭合的引号".to_owned(),
        "empty_file" => "文件为空：第一行应为列名".to_owned(),
        "invalid_json" => "不是合作馆对象组成的 JSON 数组".to_owned(),
        // Accounts and roles.
        "unknown_role" => "角色名称无效".to_owned(),
        "hub_admin_only" => "只有联盟管理员才能指定联盟管理员".to_owned(),
        "username_taken" => "该用户名已被使用".to_owned(),
        "not_staff" => "读者没有角色".to_owned(),
        "own_admin_role" => "不能取消自己的管理员角色".to_owned(),
        "invalid_email" => "电子邮箱地址无效，应类似 name@example.edu".to_owned(),
        // Copyright clearance.
        "invalid_method" => "审核方式应为支付版税、取得授权或说明理由后放行".to_owned(),
        "incomplete" => "版税金额与币种须同时填写，或都不填".to_owned(),
        "not_applicable" => "只有“支付版税”方式才填写版税金额".to_owned(),
        "invalid_amount" => format!("{f}应为金额，例如 15.00"),
        "invalid_number" => format!("{f}应为整数"),
        // Availability and trusted senders.
        "too_many" => format!("{f}过多"),
        "invalid_source" => {
            "来源应为 licensed（本馆订购资源）或 open_access（开放获取）".to_owned()
        }
        _ => return None,
    })
}

/// Rewrite the message of error bodies into the caller's language (the English original stays
/// in `message_en`), and say which language the answer is in.
pub async fn localize(req: Request, next: Next) -> Response {
    let locale = negotiate(
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let mut resp = next.run(req).await;
    // Web pages set their own (a remembered choice may override Accept-Language).
    if !resp.headers().contains_key(header::CONTENT_LANGUAGE) {
        resp.headers_mut().insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(locale.tag()),
        );
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if locale == Locale::En
        || !resp.status().is_client_error() && !resp.status().is_server_error()
        || !is_json
    {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    // Error bodies are small; anything larger is passed on untouched.
    let Ok(bytes) = to_bytes(body, 256 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut json) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if let Some(err) = json.get_mut("error") {
        let code = err["code"].as_str().unwrap_or_default().to_owned();
        let own_zh = err
            .as_object_mut()
            .and_then(|o| o.remove("message_zh"))
            .and_then(|v| v.as_str().map(str::to_owned));
        if let Some(zh) = own_zh.or_else(|| error_zh(&code, err)) {
            let en = err["message"].clone();
            err["message_en"] = en;
            err["message"] = Value::String(zh);
        }
        if let Some(fields) = err.get_mut("fields").and_then(Value::as_array_mut) {
            for f in fields {
                let (name, code) = (
                    f["field"].as_str().unwrap_or_default().to_owned(),
                    f["code"].as_str().unwrap_or_default().to_owned(),
                );
                let own_zh = f
                    .as_object_mut()
                    .and_then(|o| o.remove("message_zh"))
                    .and_then(|v| v.as_str().map(str::to_owned));
                if let Some(zh) = own_zh.or_else(|| field_zh(&name, &code)) {
                    let en = f["message"].clone();
                    f["message_en"] = en;
                    f["message"] = Value::String(zh);
                }
            }
        }
    }
    let body = serde_json::to_vec(&json).unwrap_or_else(|_| bytes.to_vec());
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_supported_language_wins() {
        assert_eq!(negotiate(None), Locale::En);
        assert_eq!(negotiate(Some("zh-CN,zh;q=0.9,en;q=0.8")), Locale::ZhCn);
        assert_eq!(negotiate(Some("en-US,en;q=0.9,zh;q=0.5")), Locale::En);
        assert_eq!(negotiate(Some("fr, zh-TW;q=0.3")), Locale::ZhCn);
        assert_eq!(negotiate(Some("de")), Locale::En);
        assert_eq!(negotiate(Some("zh;q=0")), Locale::En);
    }

    #[test]
    fn every_error_code_has_chinese() {
        for code in [
            "unauthenticated",
            "bad_credentials",
            "forbidden",
            "not_found",
            "invalid_fields",
            "bad_request",
            "conflict",
            "internal",
            "action_not_allowed",
            "action_forbidden",
        ] {
            assert!(error_zh(code, &Value::Null).is_some(), "{code}");
        }
    }
}
