//! The dashboard's markup: landmarks, labelled controls and empty tables that the script fills.

use maud::{DOCTYPE, Markup, html};

/// A select with its label.
fn select(id: &str, label: &str, first: Option<&str>) -> Markup {
    html! {
        label for=(id) { (label) }
        select id=(id) name=(id) {
            @if let Some(first) = first { option value="" { (first) } }
        }
    }
}

/// A few values asked for before an action (an instance to attach to, a new size).
fn ask_dialog() -> Markup {
    html! {
        dialog id="ask" aria-labelledby="ask-title" {
            form id="ask-form" {
                h2 id="ask-title" {}
                div id="ask-fields" class="grid" {}
                div class="row" {
                    button type="submit" id="ask-ok" { "OK" }
                    button type="button" id="ask-cancel" { "Cancel" }
                }
            }
        }
    }
}

fn confirm_dialog() -> Markup {
    html! {
        dialog id="confirm" aria-labelledby="confirm-title" {
            h2 id="confirm-title" { "Are you sure?" }
            p id="confirm-text" {}
            div class="row" {
                button type="button" id="confirm-yes" class="danger" { "Confirm" }
                button type="button" id="confirm-no" autofocus { "Cancel" }
            }
        }
    }
}

fn key_form() -> Markup {
    html! {
        form id="key-form" class="key" {
            label for="api-key" { "API key" }
            input id="api-key" type="password" autocomplete="off" placeholder="nephele_…"
                aria-describedby="key-help";
            button type="submit" { "Use key" }
            button type="button" id="forget-key" { "Forget key" }
            p id="key-help" class="hint" {
                "Kept in this tab only (session storage), sent as a bearer token, never in a URL. "
                "Make one with " code { "nephele keys create --role operator" } "."
            }
        }
    }
}

fn summary() -> Markup {
    html! {
        section aria-labelledby="summary-title" {
            h2 id="summary-title" { "Cost" }
            p id="summary-scope" class="hint" aria-live="polite" { "All accounts" }
            dl class="totals" {
                div { dt { "Instances" } dd id="total-instances" { "–" } }
                div { dt { "Run-rate per hour" } dd id="total-hourly" { "–" } }
                div { dt { "Run-rate per month" } dd id="total-monthly" { "–" } }
                div { dt { "Month to date" } dd id="total-mtd" { "–" } }
            }
            div class="split" {
                div class="scroll" { table id="by-provider" {
                    caption { "By account" }
                    thead { tr { th scope="col" { "Account" } th scope="col" { "Instances" } th scope="col" { "Per hour" } th scope="col" { "Per month" } } }
                    tbody {}
                } }
                div class="scroll" { table id="by-region" {
                    caption id="by-region-caption" { "By region" }
                    thead { tr { th scope="col" { "Region" } th scope="col" { "Instances" } th scope="col" { "Per hour" } th scope="col" { "Per month" } } }
                    tbody {}
                } }
            }
        }
    }
}

fn fleet() -> Markup {
    html! {
        section aria-labelledby="fleet-title" {
            h2 id="fleet-title" { "Fleet" }
            form id="filters" class="row" role="search" {
                label for="search" { "Search" }
                input id="search" type="search" placeholder="name, id or address";
                (select("filter-provider", "Account", Some("All accounts")))
                (select("filter-status", "Status", Some("Any status")))
                (select("filter-region", "Region", Some("All regions")))
                button type="button" id="refresh" { "Refresh" }
            }
            p id="fleet-count" aria-live="polite" { "Loading…" }
            div class="scroll" {
                table id="fleet" {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Account" } th scope="col" { "Status" }
                        th scope="col" { "Type" } th scope="col" { "Region" } th scope="col" { "Address" }
                        th scope="col" { "Age" } th scope="col" { "Per hour" } th scope="col" { "Actions" }
                    } }
                    tbody {}
                }
            }
            (pager("fleet"))
        }
    }
}

/// Paging controls of a list read a page at a time (`limit`, `cursor`, `next`).
fn pager(prefix: &str) -> Markup {
    html! {
        div class="row pager" {
            label for=(format!("{prefix}-page-size")) { "Rows per page" }
            select id=(format!("{prefix}-page-size")) {
                @for size in [25, 50, 100, 250, 500, 1000] {
                    option value=(size) selected[size == 500] { (size) }
                }
            }
            button type="button" id=(format!("{prefix}-prev")) disabled { "Previous page" }
            span id=(format!("{prefix}-page")) aria-live="polite" { "Page 1" }
            button type="button" id=(format!("{prefix}-next")) disabled { "Next page" }
        }
    }
}

/// One instance with what hangs on it (filled by the script when a row's Details is pressed).
fn instance_detail() -> Markup {
    html! {
        section id="detail-section" aria-labelledby="detail-title" hidden {
            h2 id="detail-title" { "Instance" }
            dl id="detail-facts" class="totals" {}
            @for (id, caption, heads) in [
                ("detail-volumes", "Volumes attached", ["Name", "Size", "Status"]),
                ("detail-ips", "Reserved IPs assigned", ["Address", "Region", "Locked"]),
                ("detail-firewalls", "Firewalls", ["Name", "Inbound rules", "Outbound rules"]),
            ] {
                div class="scroll" { table id=(id) {
                    caption { (caption) }
                    thead { tr { @for head in heads { th scope="col" { (head) } } } }
                    tbody {}
                } }
            }
            button type="button" id="detail-close" { "Close details" }
        }
    }
}

/// Volumes, snapshots, SSH keys, firewalls, reserved IPs and VPCs: one kind at a time, its
/// columns, actions and create form drawn by the script.
fn resources() -> Markup {
    html! {
        section aria-labelledby="resources-title" {
            h2 id="resources-title" { "Resources" }
            form id="resource-filters" class="row" {
                label for="resource-kind" { "Kind" }
                select id="resource-kind" {
                    @for (value, label) in [("volumes", "Volumes"), ("snapshots", "Snapshots"), ("ssh-keys", "SSH keys"),
                        ("firewalls", "Firewalls"), ("reserved-ips", "Reserved IPs"), ("vpcs", "VPCs")] {
                        option value=(value) { (label) }
                    }
                }
                (select("resource-account", "Account", Some("All accounts")))
                button type="button" id="resource-refresh" { "Refresh" }
            }
            p id="resource-count" aria-live="polite" {}
            div class="scroll" {
                table id="resources" { thead { tr {} } tbody {} }
            }
            (pager("resource"))
            form id="resource-form" class="grid" {
                h3 id="resource-form-title" { "Create" }
                (select("resource-create-account", "In account", None))
                div id="resource-fields" class="fields" {}
                div class="row" { button type="submit" id="resource-create" { "Create" } }
                p id="resource-result" aria-live="polite" {}
            }
        }
    }
}

/// What costs money and serves nothing, with its totals.
fn waste() -> Markup {
    html! {
        section aria-labelledby="waste-title" {
            h2 id="waste-title" { "Waste" }
            form id="waste-filters" class="row" {
                (select("waste-account", "Account", Some("All accounts")))
                label for="waste-kind" { "What" }
                select id="waste-kind" {
                    option value="" { "Everything" }
                    @for (value, label) in [("volume", "Volumes"), ("snapshot", "Snapshots"),
                        ("reserved_ip", "Reserved IPs"), ("instance", "Instances powered off")] {
                        option value=(value) { (label) }
                    }
                }
                button type="button" id="waste-refresh" { "Refresh" }
            }
            dl class="totals" {
                div { dt { "Items" } dd id="waste-count" { "–" } }
                div { dt { "Wasted per month" } dd id="waste-total" { "–" } }
            }
            div class="scroll" {
                table id="waste" {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Account" } th scope="col" { "Kind" }
                        th scope="col" { "Region" } th scope="col" { "Age" } th scope="col" class="num" { "Per month" }
                        th scope="col" { "Why" }
                    } }
                    tbody {}
                }
            }
            p id="waste-notes" class="hint" {}
        }
    }
}

/// Admins only (the script shows it to keys that may read the audit log): the accounts, adding
/// one (its credential sent once, then cleared) and removing one.
fn accounts() -> Markup {
    html! {
        section id="accounts-section" aria-labelledby="accounts-title" hidden {
            h2 id="accounts-title" { "Accounts" }
            div class="scroll" {
                table id="accounts" {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Status" }
                        th scope="col" { "Last error" } th scope="col" { "Defined in" } th scope="col" { "Fingerprint" }
                        th scope="col" { "Actions" }
                    } }
                    tbody {}
                }
            }
            form id="account-form" class="grid" {
                (select("account-type", "Type", None))
                label for="account-name" { "Name" }
                input id="account-name" required placeholder="do-staging"
                    aria-describedby="account-name-help";
                p id="account-name-help" class="hint" { "1-32 of a-z, 0-9 and -; it names the account in every URL." }
                label for="account-region" { "Region" }
                input id="account-region" placeholder="nyc1 (optional)";
                label for="account-endpoint" { "Endpoint" }
                input id="account-endpoint" type="url" placeholder="the cloud's own (optional)";
                label for="account-credential-key" { "Credential name" }
                input id="account-credential-key" required value="api_token";
                label for="account-credential" { "Credential" }
                input id="account-credential" type="password" required autocomplete="off"
                    aria-describedby="account-credential-help";
                p id="account-credential-help" class="hint" {
                    "Sent once, tried against the cloud, stored encrypted; never shown again (only its fingerprint)."
                }
                div class="row" { button type="submit" { "Add account" } }
                p id="account-result" aria-live="polite" {}
            }
        }
    }
}

/// Provider, type and region, filled by the script from the provider's catalogue.
fn catalogue_pickers(prefix: &str) -> Markup {
    html! {
        (select(&format!("{prefix}-provider"), "Provider", None))
        (select(&format!("{prefix}-type"), "Type", None))
        (select(&format!("{prefix}-region"), "Region", None))
    }
}

fn create_form() -> Markup {
    html! {
        section aria-labelledby="create-title" {
            h2 id="create-title" { "Create an instance" }
            form id="create-form" class="grid" {
                (catalogue_pickers("create"))
                (select("create-image", "Image", None))
                label for="create-name" { "Name" }
                input id="create-name" name="name" required pattern="[A-Za-z0-9]([A-Za-z0-9.\\-]*[A-Za-z0-9])?"
                    placeholder="web-1";
                div class="row" {
                    button type="submit" id="create-estimate" { "Estimate" }
                    button type="button" id="create-confirm" disabled { "Create" }
                }
                p id="create-quote" aria-live="polite" {}
            }
        }
    }
}

fn estimator() -> Markup {
    html! {
        section aria-labelledby="estimate-title" {
            h2 id="estimate-title" { "Estimate a cost" }
            form id="estimate-form" class="grid" {
                (catalogue_pickers("estimate"))
                label for="estimate-duration" { "Duration" }
                input id="estimate-duration" required value="1d" aria-describedby="duration-help";
                label for="estimate-count" { "Count" }
                input id="estimate-count" type="number" min="1" max="1000" value="1";
                button type="submit" { "Estimate" }
                p id="duration-help" class="hint" { "30s, 90min, 12h, 1d, 2w, 1mo (720 h), 1y or ISO 8601 (P1DT12H)" }
                p id="estimate-result" aria-live="polite" {}
            }
        }
    }
}

fn activity() -> Markup {
    html! {
        section aria-labelledby="activity-title" {
            h2 id="activity-title" { "Operations" }
            ul id="progress" aria-live="polite" aria-label="Operations started here" {}
            div class="scroll" {
                table id="operations" {
                    caption { "Recent operations" }
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Provider" } th scope="col" { "Kind" }
                        th scope="col" { "State" } th scope="col" { "Attempts" }
                    } }
                    tbody {}
                }
            }
        }
        section id="audit-section" aria-labelledby="audit-title" hidden {
            h2 id="audit-title" { "Audit log" }
            div class="scroll" {
                table id="audit" {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Key" } th scope="col" { "Request" }
                        th scope="col" { "Status" } th scope="col" { "Outcome" }
                    } }
                    tbody {}
                }
            }
        }
    }
}

/// Admins only (the script shows it when the list answers): webhooks and their delivery logs.
fn webhooks() -> Markup {
    html! {
        section id="webhooks-section" aria-labelledby="webhooks-title" hidden {
            h2 id="webhooks-title" { "Webhooks" }
            div class="scroll" {
                table id="webhooks" {
                    thead { tr {
                        th scope="col" { "URL" } th scope="col" { "Event types" } th scope="col" { "Enabled" }
                        th scope="col" { "Created" } th scope="col" { "Actions" }
                    } }
                    tbody {}
                }
            }
            form id="webhook-form" class="grid" {
                label for="webhook-url" { "Endpoint URL" }
                input id="webhook-url" type="url" required placeholder="https://example.com/hooks/nephele";
                label for="webhook-types" { "Event types" }
                input id="webhook-types" placeholder="all types" aria-describedby="webhook-types-help";
                p id="webhook-types-help" class="hint" {
                    "Separated by commas, such as nephele.operation.succeeded, nephele.instance.deleted; "
                    "leave empty for every type."
                }
                div class="row" { button type="submit" { "Add webhook" } }
                p id="webhook-result" aria-live="polite" {}
            }
            div id="deliveries-section" hidden {
                h3 id="deliveries-title" { "Deliveries" }
                button type="button" id="deliveries-refresh" { "Refresh deliveries" }
                div class="scroll" {
                    table id="deliveries" aria-labelledby="deliveries-title" {
                        thead { tr {
                            th scope="col" { "When" } th scope="col" { "Event" } th scope="col" { "State" }
                            th scope="col" { "Attempts" } th scope="col" { "Last status" } th scope="col" { "Last outcome" }
                        } }
                        tbody {}
                    }
                }
            }
        }
    }
}

/// Spend (the script `spend.js` fills it): each budget as a bar with its figures, the cost
/// history drawn as inline SVG by group, and each account's bill beside Nephele's month-to-date.
fn spend() -> Markup {
    let option = |value: &str, label: &str| html! { option value=(value) { (label) } };
    html! {
        section id="spend" aria-labelledby="spend-title" {
            h2 id="spend-title" { "Spend" }
            p id="spend-status" role="status" class="hint" {}
            h3 id="budgets-title" { "Budgets" }
            p id="budgets-empty" class="hint" hidden { "No budgets yet." }
            ul id="budgets" class="budgets" aria-labelledby="budgets-title" {}
            details id="budget-admin" hidden {
                summary { "Add a budget" }
                form id="budget-form" class="grid" aria-label="Add a budget" {
                    label for="budget-name" { "Name" }
                    input id="budget-name" required maxlength="100" placeholder="team-web";
                    label for="budget-amount" { "Amount" }
                    input id="budget-amount" required inputmode="decimal" placeholder="500.00";
                    label for="budget-currency" { "Currency" }
                    input id="budget-currency" value="USD" maxlength="3";
                    label for="budget-period" { "Period" }
                    select id="budget-period" {
                        (option("month", "Month")) (option("quarter", "Quarter")) (option("year", "Year"))
                    }
                    label for="budget-threshold" { "Threshold" }
                    input id="budget-threshold" placeholder="80% or 400.00" aria-describedby="budget-threshold-help";
                    label for="budget-basis" { "Threshold basis" }
                    select id="budget-basis" { (option("forecast", "Forecast")) (option("actual", "Actual")) }
                    p id="budget-threshold-help" class="hint" {
                        "Separate several with commas (80%, 100%); each is measured on the basis chosen."
                    }
                    label for="budget-tags" { "Tags in scope" }
                    input id="budget-tags" placeholder="team:web" aria-describedby="budget-scope-help";
                    label for="budget-accounts" { "Accounts in scope" }
                    input id="budget-accounts" placeholder="every account" aria-describedby="budget-scope-help";
                    p id="budget-scope-help" class="hint" { "Separated by commas; leave empty for the whole fleet." }
                    label for="budget-enforce" { "Enforce" }
                    select id="budget-enforce" {
                        (option("none", "None: alert only")) (option("warn", "Warn on creates"))
                        (option("block", "Block creates that overrun"))
                    }
                    div class="row" { button type="submit" { "Add budget" } }
                    p id="budget-result" aria-live="polite" {}
                }
            }
            h3 id="history-title" { "Cost history" }
            form id="history-form" class="row" aria-labelledby="history-title" {
                label for="history-step" { "Step" }
                select id="history-step" {
                    (option("hour", "Hour")) option value="day" selected { "Day" } (option("month", "Month"))
                }
                label for="history-from" { "From" }
                input id="history-from" type="date" aria-describedby="history-help";
                label for="history-to" { "Until" }
                input id="history-to" type="date" aria-describedby="history-help";
                label for="history-group" { "Group by" }
                select id="history-group" {
                    (option("account", "Account")) (option("provider", "Provider")) (option("region", "Region"))
                    (option("type", "Type")) (option("kind", "Kind")) (option("tag", "Tag"))
                }
                label for="history-tag" { "Tag key" }
                input id="history-tag" placeholder="team" disabled;
                button type="submit" { "Show" }
                a id="history-csv" href="/api/v1/costs/history.csv" download="nephele-cost-history.csv" { "Download CSV" }
                p id="history-help" class="hint" {
                    "Dates in UTC, the second one excluded; empty: from the start of this month until now."
                }
            }
            div id="history-chart" class="chart" {}
            ul id="history-legend" class="legend" aria-label="Groups in the chart" {}
            div class="scroll" {
                table id="history-table" {
                    caption { "Cost history figures" }
                    thead { tr {
                        th scope="col" { "Period" } th scope="col" { "Group" } th scope="col" class="num" { "Amount" }
                        th scope="col" class="num" { "Estimated part" }
                    } }
                    tbody {}
                }
            }
            h3 id="bills-title" { "Bill beside the estimate" }
            div class="scroll" {
                table id="bills" aria-labelledby="bills-title" {
                    thead { tr {
                        th scope="col" { "Account" } th scope="col" { "Status" }
                        th scope="col" class="num" { "Cloud month to date" } th scope="col" class="num" { "Nephele month to date" }
                        th scope="col" class="num" { "Difference" } th scope="col" class="num" { "Invoice preview" }
                        th scope="col" { "Read at" } th scope="col" { "Note" }
                    } }
                    tbody {}
                }
            }
        }
    }
}

/// The whole page.
pub fn render() -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Nephele" }
                link rel="stylesheet" href="/dashboard.css";
                script src="/dashboard.js" defer {}
                script src="/spend.js" defer {}
            }
            body {
                a class="skip" href="#fleet-title" { "Skip to the fleet" }
                header {
                    h1 { "Nephele" }
                    nav aria-label="Elsewhere" { a href="/docs/" { "API reference" } }
                    (key_form())
                    p id="notice" role="status" {}
                    p id="live" class="hint" aria-live="polite" {}
                }
                main {
                    (summary())
                    (spend())
                    (fleet())
                    (instance_detail())
                    (resources())
                    (waste())
                    (create_form())
                    (estimator())
                    (activity())
                    (accounts())
                    (webhooks())
                }
                (confirm_dialog())
                (ask_dialog())
            }
        }
    }
}
