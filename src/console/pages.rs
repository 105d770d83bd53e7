//! The console's pages, rendered on the server (maud escapes every value
//! it is given). Chinese UI; labels on every field; works without script.

use maud::{html, Markup, DOCTYPE};
use wangge_proto::v1;

use super::session::Session;

/// The frame every page shares.
fn page(title: &str, user: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · 网格治理" }
                link rel="stylesheet" href="/assets/console.css";
            }
            body {
                header {
                    strong { "网格治理 · 运行台" }
                    @if let Some(s) = user {
                        nav aria-label="主导航" { a href="/todo" { "待办" } }
                        form method="post" action="/logout" class="inline" {
                            span { (s.name) }
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { "退出" }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// The sign-in page: a token (from `wangge token issue` or the identity
/// provider), or — without authentication — the local operator.
pub fn login(auth: bool, error: Option<&str>) -> Markup {
    page(
        "登录",
        None,
        html! {
            @if let Some(e) = error { p role="alert" class="error" { (e) } }
            form method="post" action="/login" {
                @if auth {
                    label for="token" { "访问令牌（wangge token issue 或统一身份认证签发）" }
                    textarea id="token" name="token" rows="4" required autocomplete="off" {}
                } @else {
                    p { "本服务器未启用身份认证，仅在本机回环地址可用：以本机操作员身份进入。" }
                }
                button type="submit" { "登录" }
            }
        },
    )
}

/// Seconds left as the page shows them (超时 when negative).
fn left(seconds: i64) -> String {
    let (sign, s) = if seconds < 0 {
        ("超时 ", -seconds)
    } else {
        ("", seconds)
    };
    let (h, m) = (s / 3600, (s % 3600) / 60);
    format!("{sign}{h} 小时 {m} 分")
}

/// 待办: the caller's open work, nearest deadline first.
pub fn todo(s: &Session, r: &v1::TodoResponse) -> Markup {
    page(
        "待办",
        Some(s),
        html! {
            @if r.items.is_empty() {
                p { "没有待办事项。" }
            } @else {
                table {
                    caption { "共 " (r.items.len()) " 件，按最近期限排序" }
                    thead { tr {
                        th scope="col" { "编号" } th scope="col" { "流程" } th scope="col" { "类别" }
                        th scope="col" { "层级" } th scope="col" { "状态" } th scope="col" { "单位" }
                        th scope="col" { "剩余时间" } th scope="col" { "可办理" }
                    } }
                    tbody {
                        @for item in &r.items {
                            @if let Some(c) = &item.case {
                                tr class=[(item.seconds_left < 0).then_some("overdue")] {
                                    td { (c.id) } td { (c.workflow) } td { (c.class) }
                                    td { (c.level) } td { (c.state) } td { (c.unit) }
                                    td { (left(item.seconds_left)) }
                                    td { (item.actions.join("、")) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A refusal: what was wrong, and that nothing changed.
pub fn refused(message: &str) -> Markup {
    page(
        "未执行",
        None,
        html! {
            p role="alert" class="error" { (message) }
            p { "没有做任何更改。" a href="/" { "返回" } }
        },
    )
}
