// The organizer's dashboard: a client of the public GraphQL API (and the CSV download),
// plain ES modules, no build step. The API key lives in sessionStorage only and goes out
// as `Authorization: Bearer …` (and in `connection_init` for the live subscription).
// Amounts are the API's exact decimal strings; nothing here does money arithmetic.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content?.trim() ?? "";
const api = meta("tixshop-api").replace(/\/$/, "");
const KEY = "tixshop_admin_key";
const $ = (id) => document.getElementById(id);

let viewer = null;
let readOnly = true;
let liveCodes = null;
const liveListeners = new Set();

// --- plumbing ---------------------------------------------------------------------------

async function gql(query, variables = {}) {
  const response = await fetch(`${api}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${sessionStorage.getItem(KEY)}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(body.errors.map((e) => e.message).join("; "));
  return body.data;
}

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const badge = (status) => h("span", { class: `badge ${status}` }, status);
const write = (node) => (readOnly ? null : node);

function when(at, withTime = true) {
  if (!at) return "—";
  const options = withTime ? { dateStyle: "medium", timeStyle: "short" } : { dateStyle: "medium" };
  return new Intl.DateTimeFormat("en-GB", { ...options, timeZone: viewer.account.timeZone }).format(new Date(at));
}

function confirmDialog(text) {
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    const done = (answer) => () => { dialog.close(); resolve(answer); };
    $("confirm-ok").onclick = done(true);
    $("confirm-cancel").onclick = done(false);
    dialog.showModal();
  });
}

/** Shows each userError next to its field (`f-<name>-error`), the rest in `general`. */
function showErrors(form, errors, general) {
  for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
  for (const e of errors) {
    const field = e.field?.[e.field.length - 1];
    const slot = field && form.querySelector(`#f-${field}-error`);
    if (slot) slot.textContent = e.message;
    else general.textContent = [general.textContent, e.message].filter(Boolean).join(" ");
  }
}

function field(label, name, input) {
  input.id = `f-${name}`;
  input.name = name;
  return h("div", {}, h("label", { for: input.id }, label), input, h("div", { class: "field-error", id: `f-${name}-error`, role: "alert" }));
}

// --- live: shopActivity ---------------------------------------------------------------

function connectLive(attempt = 0) {
  const base = new URL(api || location.origin, location.href);
  const socket = new WebSocket(`${base.protocol === "https:" ? "wss" : "ws"}://${base.host}/graphql/ws`, "graphql-transport-ws");
  socket.addEventListener("open", () => socket.send(JSON.stringify({
    type: "connection_init", payload: { Authorization: `Bearer ${sessionStorage.getItem(KEY)}` } })));
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "connection_ack") {
      $("live").textContent = "live";
      $("live").classList.add("on");
      socket.send(JSON.stringify({ id: "activity", type: "subscribe", payload: {
        query: "subscription { shopActivity { at promoCodes { id code redemptionsCount usageLimit remaining maxPerCustomer status active } } }" } }));
    } else if (message.type === "next" && message.payload.data) {
      attempt = 0;
      liveCodes = message.payload.data.shopActivity.promoCodes;
      for (const listener of liveListeners) listener(liveCodes);
    } else if (message.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    }
  });
  socket.addEventListener("close", () => {
    $("live").textContent = "reconnecting…";
    $("live").classList.remove("on");
    if (sessionStorage.getItem(KEY)) setTimeout(() => connectLive(attempt + 1), Math.min(10000, 500 * 2 ** attempt));
  });
}

// --- promo codes ------------------------------------------------------------------------

const CODE_FIELDS = "id code discountType percentOff amountOff { amount currency } eventId expiresAt startsAt minimumSubtotal { amount } partner { id name } recipientEmail usageLimit maxPerCustomer redemptionsCount remaining status active description";

function discountText(c) {
  return c.discountType === "PERCENTAGE" ? `${c.percentOff} % off` : `${c.amountOff.amount} ${c.amountOff.currency} off`;
}

function usage(c) {
  return `${c.redemptionsCount} / ${c.usageLimit ?? "∞"}`;
}

/** "This will create FALL26: 15 % off, once per buyer, until 31 Oct 2027 23:59 Europe/Berlin". */
function describe(c, verb) {
  const parts = [discountText(c)];
  if (c.maxPerCustomer) parts.push(c.maxPerCustomer === 1 ? "once per buyer" : `${c.maxPerCustomer} times per buyer`);
  if (c.usageLimit) parts.push(`${c.usageLimit} redemptions in all`);
  if (c.minimumSubtotal) parts.push(`from a subtotal of ${c.minimumSubtotal.amount} ${viewer.account.currency}`);
  if (c.startsAt) parts.push(`from ${when(c.startsAt)}`);
  if (c.partner) parts.push(`handed out by ${c.partner.name}`);
  parts.push(c.expiresAt ? `until ${when(c.expiresAt)} ${viewer.account.timeZone}` : "with no end date");
  return `This will ${verb} ${c.code}: ${parts.join(", ")}.`;
}

async function codesView(view) {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const status = params.get("status") ?? "ALL";
  const search = params.get("search") ?? "";
  const { promoCodes } = await gql(`query($f: PromoCodeFilter) { promoCodes(filter: $f, first: 200) { nodes { ${CODE_FIELDS} } } }`,
    { f: { status, search: search || null } });
  let codes = promoCodes.nodes;
  const statusSelect = h("select", { id: "codes-status", onchange: (e) => { location.hash = `#/codes?status=${e.target.value}&search=${encodeURIComponent(search)}`; } },
    ...["ALL", "ACTIVE", "SCHEDULED", "EXPIRED", "EXHAUSTED", "INACTIVE", "DELETED"].map((s) => h("option", { value: s, selected: s === status }, s)));
  const searchInput = h("input", { id: "codes-search", type: "search", value: search, placeholder: "code or description" });
  const tbody = h("tbody");
  const render = () => {
    tbody.replaceChildren(...codes.map((c) => h("tr", { "data-code": c.code },
      h("td", {}, h("strong", {}, c.code), h("div", { class: "muted" }, [c.description, c.partner && `partner: ${c.partner.name}`].filter(Boolean).join(" · "))),
      h("td", {}, discountText(c)),
      h("td", { class: "n usage" }, usage(c)),
      h("td", { class: "n remaining" }, c.remaining ?? "∞"),
      h("td", { class: "n" }, c.maxPerCustomer ?? "∞"),
      h("td", {}, when(c.expiresAt)),
      h("td", { class: "status" }, badge(c.status)),
      h("td", { class: "actions" }, write(c.status === "DELETED" ? null : h("span", {},
        h("button", { class: "secondary", type: "button", onclick: () => { location.hash = `#/codes/${c.id}`; } }, "Edit"), " ",
        c.active
          ? h("button", { class: "secondary", type: "button", onclick: () => setActive(c, false) }, "Deactivate")
          : h("button", { class: "secondary", type: "button", onclick: () => setActive(c, true) }, "Reactivate"), " ",
        h("button", { class: "danger", type: "button", onclick: () => deleteCode(c) }, "Delete")))))));
  };
  render();
  const onLive = (live) => {
    const byId = new Map(live.map((c) => [c.id, c]));
    codes = codes.map((c) => (byId.has(c.id) ? { ...c, ...byId.get(c.id) } : c));
    render();
  };
  liveListeners.add(onLive);
  view.cleanup = () => liveListeners.delete(onLive);
  view.append(
    h("h2", {}, "Promo codes"),
    h("div", { class: "toolbar" },
      h("div", {}, h("label", { for: "codes-status" }, "Status"), statusSelect),
      h("form", { onsubmit: (e) => { e.preventDefault(); location.hash = `#/codes?status=${status}&search=${encodeURIComponent(searchInput.value)}`; } },
        h("label", { for: "codes-search" }, "Search"), searchInput, " ", h("button", { class: "secondary" }, "Search")),
      write(h("button", { type: "button", id: "new-code", onclick: () => { location.hash = "#/codes/new"; } }, "New code"))),
    h("div", { class: "card" }, h("table", { id: "codes" },
      h("thead", {}, h("tr", {}, ...["Code", "Discount", "Used / limit", "Remaining", "Per buyer", "Expires", "Status", ""].map((t, i) => h("th", { class: i >= 2 && i <= 4 ? "n" : null }, t)))),
      tbody)));
}

async function setActive(c, active) {
  const field = active ? "reactivatePromoCode" : "deactivatePromoCode";
  const data = await gql(`mutation($id: ID!) { ${field}(id: $id) { userErrors { message } } }`, { id: c.id });
  if (data[field].userErrors.length) alert(data[field].userErrors.map((e) => e.message).join(" "));
  route();
}

async function deleteCode(c) {
  const query = `mutation($id: ID!, $d: Boolean!) { deletePromoCode(id: $id, dryRun: $d) { deletion userErrors { message } } }`;
  const dry = (await gql(query, { id: c.id, d: true })).deletePromoCode;
  if (dry.userErrors.length) { alert(dry.userErrors.map((e) => e.message).join(" ")); return; }
  const text = dry.deletion === "SOFT"
    ? `${c.code} was redeemed, so this is a soft delete: the code stops working and leaves the list, but it is kept for its orders and reports, and the string ${c.code} becomes free for a new code.`
    : `${c.code} was never redeemed, so it will be deleted for good.`;
  if (!(await confirmDialog(text))) return;
  await gql(query, { id: c.id, d: false });
  route();
}

async function codeForm(view, id) {
  const existing = id === "new" ? null
    : (await gql(`query($id: ID!) { promoCode(id: $id) { ${CODE_FIELDS} } }`, { id })).promoCode;
  const { events, partners } = await gql("{ events(first: 200) { edges { node { id name } } } partners { id name } }");
  const input = (attrs) => h("input", attrs);
  const form = h("form", { class: "card", id: "code-form", novalidate: true });
  const general = h("div", { class: "error", role: "alert" });
  const preview = h("div", { class: "preview", id: "code-preview", hidden: true });
  const type = h("select", {}, h("option", { value: "PERCENTAGE" }, "Percentage"), h("option", { value: "FIXED_AMOUNT" }, "Fixed amount"));
  const eventSelect = h("select", {}, h("option", { value: "" }, "Every event"), ...events.edges.map((e) => h("option", { value: e.node.id }, e.node.name)));
  const day = (at) => (at ? new Intl.DateTimeFormat("en-CA", { timeZone: viewer.account.timeZone }).format(new Date(at)) : "");
  const expiry = day(existing?.expiresAt);
  const partnerSelect = h("select", {}, h("option", { value: "" }, "None"), ...partners.map((p) => h("option", { value: p.id }, p.name)));
  form.append(
    h("div", { class: "grid" },
      field("Code", "code", input({ value: existing?.code ?? "", autocomplete: "off" })),
      field("Discount type", "discountType", type),
      field("Percent off", "percentOff", input({ value: existing?.percentOff ?? "", inputmode: "decimal", placeholder: "15" })),
      field(`Amount off (${viewer.account.currency})`, "amountOff", input({ value: existing?.amountOff?.amount ?? "", inputmode: "decimal", placeholder: "5.00" })),
      field("Event", "eventId", eventSelect),
      field(`First day (${viewer.account.timeZone})`, "startsOn", input({ type: "date", value: day(existing?.startsAt) })),
      field(`Last day (${viewer.account.timeZone})`, "expiresOn", input({ type: "date", value: expiry })),
      field(`Minimum subtotal (${viewer.account.currency})`, "minimumSubtotal", input({ value: existing?.minimumSubtotal?.amount ?? "", inputmode: "decimal", placeholder: "50.00" })),
      field("Partner", "partnerId", partnerSelect),
      field("Usage limit", "usageLimit", input({ type: "number", min: "1", value: existing?.usageLimit ?? "" })),
      field("Per buyer", "maxPerCustomer", input({ type: "number", min: "1", value: existing?.maxPerCustomer ?? "" })),
      field("Description", "description", input({ value: existing?.description ?? "" }))),
    preview, general,
    h("div", { class: "toolbar" },
      h("button", { type: "button", class: "secondary", id: "code-preview-button", onclick: () => submit(true) }, "Preview"),
      h("button", { type: "submit", id: "code-save" }, existing ? "Save changes" : "Create code"),
      h("a", { href: "#/codes" }, "Cancel")));
  if (existing) type.value = existing.discountType;
  if (existing?.eventId) eventSelect.value = existing.eventId;
  if (existing?.partner) partnerSelect.value = existing.partner.id;
  const values = () => {
    const v = (name) => form.elements[name].value.trim();
    const number = (name) => (v(name) === "" ? null : Number(v(name)));
    const input = {
      code: v("code"), discountType: v("discountType"),
      percentOff: v("discountType") === "PERCENTAGE" ? v("percentOff") || null : null,
      amountOff: v("discountType") === "FIXED_AMOUNT" ? v("amountOff") || null : null,
      eventId: v("eventId") || null, usageLimit: number("usageLimit"), maxPerCustomer: number("maxPerCustomer"),
      description: v("description") || null,
      minimumSubtotal: v("minimumSubtotal") || null, partnerId: v("partnerId") || null,
    };
    if (v("expiresOn")) input.expiresOn = v("expiresOn");
    else if (existing) input.expiresAt = null;
    if (v("startsOn")) input.startsOn = v("startsOn");
    else if (existing) input.startsAt = null;
    return input;
  };
  async function submit(dryRun) {
    general.textContent = "";
    const input = values();
    const data = existing
      ? (await gql(`mutation($id: ID!, $i: UpdatePromoCodeInput!, $d: Boolean!) { r: updatePromoCode(id: $id, input: $i, dryRun: $d) { promoCode { ${CODE_FIELDS} } userErrors { field message } } }`,
        { id: existing.id, i: input, d: dryRun })).r
      : (await gql(`mutation($i: CreatePromoCodeInput!, $d: Boolean!) { r: createPromoCode(input: $i, dryRun: $d) { promoCode { ${CODE_FIELDS} } userErrors { field message } } }`,
        { i: input, d: dryRun })).r;
    showErrors(form, data.userErrors, general);
    if (data.userErrors.length) { preview.hidden = true; return; }
    if (dryRun) {
      preview.hidden = false;
      preview.textContent = describe(data.promoCode, existing ? "save" : "create");
    } else {
      location.hash = "#/codes";
    }
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(false); });
  view.append(h("h2", {}, existing ? `Edit ${existing.code}` : "New promo code"), form);
}

// --- orders -----------------------------------------------------------------------------

async function ordersView(view) {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const filter = { promoCode: params.get("code") || null, utmSource: params.get("utm") || null };
  const sort = params.get("sort") ?? "CREATED_AT";
  const { orders } = await gql(`query($f: OrderFilter, $o: OrderOrder) { orders(filter: $f, orderBy: $o, first: 100) {
      edges { node { id number status email promoCode utmSource total { amount currency } createdAt } } } }`,
    { f: filter, o: { field: sort, direction: "DESC" } });
  const code = h("input", { id: "orders-code", value: filter.promoCode ?? "", placeholder: "NEWS10" });
  const utm = h("input", { id: "orders-utm", value: filter.utmSource ?? "", placeholder: "instagram" });
  const sortSelect = h("select", { id: "orders-sort" }, ...[["CREATED_AT", "Newest"], ["PROMO_CODE", "Promo code"], ["TOTAL", "Total"]]
    .map(([v, t]) => h("option", { value: v, selected: v === sort }, t)));
  view.append(
    h("h2", {}, "Orders"),
    h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); location.hash = `#/orders?code=${encodeURIComponent(code.value)}&utm=${encodeURIComponent(utm.value)}&sort=${sortSelect.value}`; } },
      h("div", {}, h("label", { for: "orders-code" }, "Promo code"), code),
      h("div", {}, h("label", { for: "orders-utm" }, "utm_source"), utm),
      h("div", {}, h("label", { for: "orders-sort" }, "Sort by"), sortSelect),
      h("button", { class: "secondary" }, "Apply")),
    h("div", { class: "card" }, h("table", { id: "orders" },
      h("thead", {}, h("tr", {}, ...["Order", "Status", "Buyer", "Promo code", "utm_source", "Total", "Placed"].map((t) => h("th", { class: t === "Total" ? "n" : null }, t)))),
      h("tbody", {}, ...orders.edges.map(({ node: o }) => h("tr", { "data-order": o.number },
        h("td", {}, h("a", { href: `#/orders/${o.id}` }, o.number)), h("td", {}, badge(o.status)), h("td", {}, o.email),
        h("td", { class: "promo" }, o.promoCode ?? "—"), h("td", {}, o.utmSource ?? "—"),
        h("td", { class: "n" }, `${o.total.amount} ${o.total.currency}`), h("td", {}, when(o.createdAt))))))));
}

async function orderDetail(view, id) {
  const { order } = await gql(`query($id: ID!) { order(id: $id) { id number status email promoCode utmSource total { amount currency }
      refundedAmount { amount } items { name quantity unitPrice { amount } lineTotal { amount } }
      invoice { net total vat { rate vat } promo { label discountAmount } } refunds { amount { amount } createdAt } } }`, { id });
  if (!order) { view.append(h("p", {}, "No such order.")); return; }
  const amount = h("input", { id: "refund-amount", inputmode: "decimal", placeholder: `all that is left` });
  const message = h("div", { role: "alert" });
  view.append(
    h("h2", {}, `Order ${order.number} `, badge(order.status)),
    h("div", { class: "card" },
      h("p", {}, `${order.email} · code ${order.promoCode ?? "—"} · utm_source ${order.utmSource ?? "—"}`),
      h("table", {}, h("tbody", {}, ...order.items.map((i) => h("tr", {}, h("td", {}, `${i.quantity} × ${i.name}`),
        h("td", { class: "n" }, i.unitPrice.amount), h("td", { class: "n" }, `${i.lineTotal.amount} ${order.total.currency}`))))),
      order.invoice ? h("p", {}, order.invoice.promo ? `${order.invoice.promo.label}: ${order.invoice.promo.discountAmount} included. ` : "",
        `Net ${order.invoice.net}, VAT ${order.invoice.vat.map((v) => `${v.rate}% ${v.vat}`).join(", ")}, total ${order.invoice.total} ${order.total.currency}. `,
        h("a", { href: "#", onclick: (e) => { e.preventDefault(); openInvoice(order.id); } }, "Invoice")) : h("p", { class: "muted" }, "No invoice: not paid."),
      h("p", {}, `Refunded so far: ${order.refundedAmount.amount} ${order.total.currency}`)),
    write(["PAID", "PARTIALLY_REFUNDED"].includes(order.status) ? h("form", { class: "card", onsubmit: async (e) => {
      e.preventDefault();
      const shown = amount.value.trim() ? `${amount.value.trim()} ${order.total.currency}` : "everything not yet refunded";
      if (!(await confirmDialog(`Refund ${shown} of order ${order.number} through its payment provider?`))) return;
      const { refundOrder } = await gql(`mutation($id: ID!, $a: String) { refundOrder(orderId: $id, amount: $a) { order { status } userErrors { message } } }`,
        { id: order.id, a: amount.value.trim() || null });
      message.className = refundOrder.userErrors.length ? "error" : "ok";
      message.textContent = refundOrder.userErrors.length ? refundOrder.userErrors.map((x) => x.message).join(" ") : `Refunded: ${refundOrder.order.status}`;
    } }, h("label", { for: "refund-amount" }, `Refund amount (${order.total.currency}); empty = full refund`), amount, " ", h("button", {}, "Refund…"), message) : null));
}

async function openInvoice(id) {
  const response = await fetch(`${api}/orders/${id}/invoice.html`, { headers: { authorization: `Bearer ${sessionStorage.getItem(KEY)}` } });
  const url = URL.createObjectURL(new Blob([await response.text()], { type: "text/html" }));
  window.open(url, "_blank");
}

// --- reports ----------------------------------------------------------------------------

function isoDay(date) { return date.toISOString().slice(0, 10); }

function barChart(rows, value, label) {
  const width = 640; const barH = 22; const left = 120;
  const max = Math.max(1, ...rows.map((r) => Number(value(r))));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${rows.length * (barH + 6) + 10}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.id = "report-chart";
  rows.forEach((r, i) => {
    const y = i * (barH + 6) + 5;
    const w = Math.max(2, ((width - left - 80) * Number(value(r))) / max);
    const el = (tag, attrs, text) => {
      const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      svg.append(node);
      return node;
    };
    el("text", { x: 0, y: y + 15 }, r.label);
    const bar = el("rect", { x: left, y, width: w, height: barH, fill: "#2d5be3", rx: 3 });
    bar.dataset.code = r.label;
    el("text", { x: left + w + 6, y: y + 15 }, value(r));
  });
  return svg;
}

async function reportsView(view) {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const today = new Date();
  const from = params.get("from") ?? isoDay(new Date(today.getTime() - 30 * 86400000));
  const to = params.get("to") ?? isoDay(new Date(today.getTime() + 86400000));
  const groupBy = params.get("group") ?? "CODE";
  const range = { from: `${from}T00:00:00Z`, to: `${to}T00:00:00Z` };
  const { promoCodeReport } = await gql(`query($f: DateTime!, $t: DateTime!, $g: ReportGroupBy!) { promoCodeReport(from: $f, to: $t, groupBy: $g) {
      code utmSource currency linkVisits orders linkOrders conversion tickets revenue revenueNetOfRefunds discountGiven refunds redemptionsEver redemptionsActive ordersOverCap } }`,
    { f: range.from, t: range.to, g: groupBy });
  const rows = promoCodeReport;
  const fromInput = h("input", { type: "date", id: "report-from", value: from });
  const toInput = h("input", { type: "date", id: "report-to", value: to });
  const group = h("select", { id: "report-group" }, h("option", { value: "CODE", selected: groupBy === "CODE" }, "Code"),
    h("option", { value: "CODE_AND_UTM_SOURCE", selected: groupBy !== "CODE" }, "Code × utm_source"));
  const bySource = groupBy !== "CODE";
  const columns = ["Code", ...(bySource ? ["utm_source"] : []), "Link visits", "Orders", "Conversion", "Tickets", "Revenue", "Net of refunds", "Discount", "Redeemed ever / active", "Over cap"];
  const chartRows = rows.map((r) => ({ label: bySource ? `${r.code} · ${r.utmSource ?? "—"}` : r.code, revenue: r.revenue, orders: r.orders }));
  const daily = h("div", { id: "daily" });
  const codePicker = h("select", { id: "daily-code", onchange: () => drawDaily() }, ...[...new Set(rows.map((r) => r.code))].map((c) => h("option", { value: c }, c)));
  async function drawDaily() {
    daily.replaceChildren();
    if (!codePicker.value) return;
    const { orders } = await gql(`query($f: OrderFilter) { orders(filter: $f, first: 200) { edges { node { createdAt status } } } }`,
      { f: { promoCode: codePicker.value, createdAfter: range.from, createdBefore: range.to } });
    const perDay = new Map();
    for (const { node } of orders.edges) {
      if (!["PAID", "PARTIALLY_REFUNDED", "REFUNDED"].includes(node.status)) continue;
      const day = new Intl.DateTimeFormat("en-CA", { timeZone: viewer.account.timeZone }).format(new Date(node.createdAt));
      perDay.set(day, (perDay.get(day) ?? 0) + 1);
    }
    const points = [...perDay.entries()].sort().map(([label, n]) => ({ label, n: String(n) }));
    daily.append(points.length ? barChart(points, (r) => r.n, `Orders per day with ${codePicker.value}`) : h("p", { class: "muted" }, "No paid orders in the period."));
    daily.querySelector("svg")?.setAttribute("id", "daily-chart");
  }
  async function downloadCsv() {
    const group = bySource ? "code_and_utm_source" : "code";
    const response = await fetch(`${api}/admin/reports/promo_codes.csv?from=${range.from}&to=${range.to}&group_by=${group}`,
      { headers: { authorization: `Bearer ${sessionStorage.getItem(KEY)}` } });
    const link = h("a", { href: URL.createObjectURL(await response.blob()), download: `promo-codes-${from}-${to}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
  }
  view.append(
    h("h2", {}, "Reports"),
    h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); location.hash = `#/reports?from=${fromInput.value}&to=${toInput.value}&group=${group.value}`; } },
      h("div", {}, h("label", { for: "report-from" }, "From"), fromInput),
      h("div", {}, h("label", { for: "report-to" }, "To (exclusive)"), toInput),
      h("div", {}, h("label", { for: "report-group" }, "Group by"), group),
      h("button", { class: "secondary" }, "Show"),
      h("button", { type: "button", id: "report-csv", onclick: downloadCsv }, "Download CSV")),
    h("div", { class: "card" }, h("h3", {}, `Revenue per ${bySource ? "code and utm_source" : "code"} (${rows[0]?.currency ?? viewer.account.currency})`),
      rows.length ? barChart(chartRows, (r) => r.revenue, "Revenue per code") : h("p", { class: "muted" }, "No orders with a code in this period.")),
    h("div", { class: "card" }, h("table", { id: "report" },
      h("thead", {}, h("tr", {}, ...columns.map((c, i) => h("th", { class: i > (bySource ? 1 : 0) ? "n" : null }, c)))),
      h("tbody", {}, ...rows.map((r) => h("tr", { "data-code": r.code },
        h("td", {}, r.code), bySource ? h("td", {}, r.utmSource ?? "—") : null,
        ...[r.linkVisits, r.orders, r.conversion ?? "—", r.tickets, r.revenue, r.revenueNetOfRefunds, r.discountGiven,
          `${r.redemptionsEver} / ${r.redemptionsActive}`, r.ordersOverCap].map((v) => h("td", { class: "n" }, v))))))),
    h("div", { class: "card" }, h("h3", {}, "Orders per day"), h("label", { for: "daily-code" }, "Code"), codePicker, daily));
  drawDaily();
  const onLive = () => { if (location.hash.startsWith("#/reports")) route(); };
  liveListeners.add(onLive);
  view.cleanup = () => liveListeners.delete(onLive);
}

// --- events & tickets -----------------------------------------------------------------

async function eventsView(view) {
  const { events } = await gql(`{ events(first: 200) { edges { node { id name venue status startsAt
      ticketTypes { id name price { amount currency } capacity sold held available hidden onSale }
      sales { ticketsSold orders revenue { amount currency } } } } } }`);
  const form = h("form", { class: "card", id: "event-form" });
  const general = h("div", { class: "error", role: "alert" });
  form.append(h("h3", {}, "New event"), h("div", { class: "grid" },
    field("Name", "name", h("input", {})), field("Venue", "venue", h("input", {})),
    field("Starts at (RFC 3339, e.g. 2027-06-20T20:00:00+02:00)", "startsAt", h("input", {}))), general, h("button", {}, "Create draft"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = (n) => form.elements[n].value.trim();
    const { createEvent } = await gql(`mutation($i: CreateEventInput!) { createEvent(input: $i) { userErrors { field message } } }`,
      { i: { name: v("name"), venue: v("venue") || null, startsAt: v("startsAt") } }).catch((err) => ({ createEvent: { userErrors: [{ message: err.message }] } }));
    showErrors(form, createEvent.userErrors, general);
    if (!createEvent.userErrors.length) route();
  });
  const setStatus = async (id, status) => {
    await gql(`mutation($id: ID!, $s: EventStatus!) { updateEvent(id: $id, input: { status: $s }) { userErrors { message } } }`, { id, s: status });
    route();
  };
  view.append(h("h2", {}, "Events & tickets"), ...events.edges.map(({ node: e }) => h("div", { class: "card" },
    h("h3", {}, `${e.name} `, badge(e.status)),
    h("p", { class: "muted" }, `${e.venue ?? ""} · ${when(e.startsAt)} · sold ${e.sales?.ticketsSold ?? 0}, ${e.sales?.orders ?? 0} orders, ${e.sales?.revenue.amount ?? "0"} ${viewer.account.currency}`),
    write(h("div", { class: "toolbar" }, ...["DRAFT", "ON_SALE", "SALES_ENDED", "CANCELLED"].filter((s) => s !== e.status)
      .map((s) => h("button", { class: "secondary", type: "button", onclick: () => setStatus(e.id, s) }, `Set ${s}`)))),
    h("table", {}, h("thead", {}, h("tr", {}, ...["Ticket type", "Price", "Capacity", "Sold", "Held", "Left", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...e.ticketTypes.map((t) => h("tr", {}, h("td", {}, t.name, t.hidden ? " (hidden)" : ""),
        h("td", {}, `${t.price.amount} ${t.price.currency}`), h("td", {}, t.capacity ?? "∞"), h("td", {}, t.sold), h("td", {}, t.held),
        h("td", {}, t.available ?? "∞"), h("td", {}, t.onSale ? "on sale" : "not selling")))))),
  ), write(form));
}

// --- webhooks, audit log, API keys ------------------------------------------------------

async function webhooksView(view) {
  const { webhookEndpoints, webhookDeliveries } = await gql(`{ webhookEndpoints { id url events active description }
      webhookDeliveries(first: 50) { id endpointId eventType status attemptCount nextAttemptAt attempts { attemptedAt statusCode error } } }`);
  const url = h("input", { id: "hook-url", placeholder: "https://crm.example.com/hooks/tixshop", style: "min-width:22em" });
  const message = h("div", { role: "alert" });
  view.append(h("h2", {}, "Webhooks"),
    h("div", { class: "card" }, h("table", {}, h("thead", {}, h("tr", {}, ...["URL", "Events", "State", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...webhookEndpoints.map((e) => h("tr", {}, h("td", {}, e.url), h("td", {}, e.events.join(", ")), h("td", {}, e.active ? "active" : "paused"),
        h("td", {}, write(h("button", { class: "danger", type: "button", onclick: async () => {
          if (await confirmDialog(`Delete the endpoint ${e.url} and its delivery log?`)) {
            await gql(`mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { ok } }`, { id: e.id });
            route();
          }
        } }, "Delete")))))))),
    write(h("form", { class: "card toolbar", onsubmit: async (ev) => {
      ev.preventDefault();
      const { createWebhookEndpoint: r } = await gql(`mutation($u: String!) { createWebhookEndpoint(input: { url: $u, events: ["order.paid", "order.refunded"] }) { secret userErrors { message } } }`, { u: url.value.trim() });
      message.className = r.userErrors.length ? "error" : "secret";
      message.textContent = r.userErrors.length ? r.userErrors.map((x) => x.message).join(" ") : `Signing secret (shown once): ${r.secret}`;
    } }, h("div", {}, h("label", { for: "hook-url" }, "New endpoint URL"), url), h("button", {}, "Add endpoint"), message)),
    h("div", { class: "card" }, h("h3", {}, "Deliveries"), h("table", {},
      h("thead", {}, h("tr", {}, ...["Event", "Status", "Attempts", "Last answer", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, ...webhookDeliveries.map((d) => {
        const last = d.attempts[d.attempts.length - 1];
        return h("tr", {}, h("td", {}, d.eventType), h("td", {}, badge(d.status)), h("td", {}, d.attemptCount),
          h("td", {}, last ? `${last.statusCode ?? last.error ?? ""} at ${when(last.attemptedAt)}` : "—"),
          h("td", {}, write(h("button", { class: "secondary", type: "button", onclick: async () => {
            await gql(`mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { ok } }`, { id: d.id });
            route();
          } }, "Redeliver"))));
      })))));
}

async function auditView(view) {
  const { auditLog } = await gql(`{ auditLog(first: 100) { edges { node { at keyName via operation targetType targetId changes { field before after } } } } }`);
  const show = (v) => (v === null ? "—" : typeof v === "string" ? v : JSON.stringify(v));
  view.append(h("h2", {}, "Audit log"), h("div", { class: "card" }, h("table", { id: "audit" },
    h("thead", {}, h("tr", {}, ...["When", "Who", "Operation", "Target", "Changes"].map((t) => h("th", {}, t)))),
    h("tbody", {}, ...auditLog.edges.map(({ node: a }) => h("tr", {}, h("td", {}, when(a.at)), h("td", {}, `${a.keyName} (${a.via})`),
      h("td", {}, a.operation), h("td", {}, `${a.targetType} ${a.targetId}`),
      h("td", {}, ...a.changes.map((c) => h("div", {}, `${c.field}: ${show(c.before)} → ${show(c.after)}`)))))))));
}

// --- campaigns: partners, share links, generated batches ------------------------------

async function download(path, filename) {
  const response = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${sessionStorage.getItem(KEY)}` } });
  const link = h("a", { href: URL.createObjectURL(await response.blob()), download: filename });
  document.body.append(link);
  link.click();
  link.remove();
}

async function campaignsView(view) {
  const data = await gql(`{ partners { id name contact } partnerShareLinks { id partnerId promoCodeId active createdAt revokedAt }
      promoBatches { id name prefix recipients codeCount codesRedeemed redemptions codesActive revenue { amount currency } discountGiven { amount } csvPath createdAt }
      promoCodes(first: 200) { nodes { code partner { id } } } }`);
  const partnerName = new Map(data.partners.map((p) => [p.id, p.name]));
  const codesOf = (id) => data.promoCodes.nodes.filter((c) => c.partner?.id === id).map((c) => c.code);
  const shared = h("div", { role: "status", id: "share-result" });
  async function share(partner) {
    const { createPartnerShareLink: r } = await gql(`mutation($p: ID!) { createPartnerShareLink(partnerId: $p) { path userErrors { message } } }`, { p: partner.id });
    if (r.userErrors.length) { shared.className = "error"; shared.textContent = r.userErrors.map((e) => e.message).join(" "); return; }
    const url = new URL(r.path, api || location.origin).href;
    shared.className = "secret";
    shared.replaceChildren(`Share link for ${partner.name} (shown only now; send it to them): `, h("a", { href: url, id: "share-url", target: "_blank" }, url));
  }
  const partnerName$ = h("input", { id: "partner-name", placeholder: "Maria" });
  const partnerContact = h("input", { id: "partner-contact", placeholder: "@maria.tickets" });
  const partnerMessage = h("div", { role: "alert" });

  // The batch form: a count, or emails pasted one per line (or a CSV with an email column).
  const form = h("form", { class: "card", id: "batch-form", novalidate: true });
  const general = h("div", { class: "error", role: "alert" });
  const preview = h("div", { class: "preview", id: "batch-preview", hidden: true });
  const input = (attrs) => h("input", attrs);
  const type = h("select", {}, h("option", { value: "PERCENTAGE" }, "Percentage"), h("option", { value: "FIXED_AMOUNT" }, "Fixed amount"));
  const who = h("select", {}, h("option", { value: "count" }, "Codes for anyone"), h("option", { value: "emails" }, "One code per email (newsletter)"));
  const partnerSelect = h("select", {}, h("option", { value: "" }, "None"), ...data.partners.map((p) => h("option", { value: p.id }, p.name)));
  form.append(
    h("h3", {}, "Generate codes"),
    h("div", { class: "grid" },
      field("Batch name", "batchName", input({ placeholder: "December newsletter" })),
      field("Prefix", "prefix", input({ placeholder: "NEWS", autocomplete: "off" })),
      field("For", "who", who),
      field("How many", "count", input({ type: "number", min: "1", max: "10000", value: "100" })),
      field("Discount type", "discountType", type),
      field("Percent off", "percentOff", input({ inputmode: "decimal", placeholder: "10" })),
      field(`Amount off (${viewer.account.currency})`, "amountOff", input({ inputmode: "decimal", placeholder: "5.00" })),
      field("Uses per code", "usagePerCode", input({ type: "number", min: "1", value: "1" })),
      field(`First day (${viewer.account.timeZone})`, "startsOn", input({ type: "date" })),
      field(`Last day (${viewer.account.timeZone})`, "expiresOn", input({ type: "date" })),
      field(`Minimum subtotal (${viewer.account.currency})`, "minimumSubtotal", input({ inputmode: "decimal", placeholder: "30.00" })),
      field("Partner", "partnerId", partnerSelect)),
    field("Recipient emails (one per line, or CSV with an email column)", "recipientsCsv", h("textarea", { rows: "4", style: "width:100%" })),
    h("label", { for: "recipients-file" }, "…or upload the mailing tool's CSV export"),
    h("input", { type: "file", id: "recipients-file", accept: ".csv,text/csv,text/plain", onchange: async (e) => {
      const file = e.target.files[0];
      if (!file) return;
      form.elements.recipientsCsv.value = await file.text();
      form.elements.who.value = "emails";
    } }),
    preview, general,
    h("div", { class: "toolbar" },
      h("button", { type: "button", class: "secondary", id: "batch-preview-button", onclick: () => submit(true) }, "Preview"),
      h("button", { type: "submit", id: "batch-generate" }, "Generate")));
  const values = () => {
    const v = (name) => form.elements[name].value.trim();
    const input = {
      batchName: v("batchName"), prefix: v("prefix"), discountType: v("discountType"),
      percentOff: v("discountType") === "PERCENTAGE" ? v("percentOff") || null : null,
      amountOff: v("discountType") === "FIXED_AMOUNT" ? v("amountOff") || null : null,
      usagePerCode: v("usagePerCode") === "" ? null : Number(v("usagePerCode")),
      minimumSubtotal: v("minimumSubtotal") || null, partnerId: v("partnerId") || null,
      startsOn: v("startsOn") || null, expiresOn: v("expiresOn") || null,
    };
    if (v("who") === "count") input.count = Number(v("count"));
    else input.recipientsCsv = v("recipientsCsv");
    return input;
  };
  async function submit(dryRun) {
    general.textContent = "";
    const { generatePromoCodes: r } = await gql(`mutation($i: GeneratePromoCodesInput!, $d: Boolean!) { generatePromoCodes(input: $i, dryRun: $d) {
        batch { id name codeCount } codes { code recipientEmail } userErrors { field message } } }`, { i: values(), d: dryRun });
    showErrors(form, r.userErrors, general);
    if (r.userErrors.length) { preview.hidden = true; return; }
    if (dryRun) {
      preview.hidden = false;
      const samples = r.codes.map((c) => (c.recipientEmail ? `${c.code} (${c.recipientEmail})` : c.code)).join(", ");
      preview.textContent = `This will create ${r.batch.codeCount} codes, such as ${samples}.`;
    } else {
      route();
    }
  }
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(false); });

  view.append(
    h("h2", {}, "Campaigns"),
    h("div", { class: "card" }, h("h3", {}, "Partners"),
      h("p", { class: "muted" }, "Give each creator or newsletter their own codes; a share link shows them their figures (visits, orders, revenue) and nothing else."),
      h("table", { id: "partners" },
        h("thead", {}, h("tr", {}, ...["Partner", "Contact", "Codes", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, ...data.partners.map((p) => h("tr", { "data-partner": p.name },
          h("td", {}, p.name), h("td", {}, p.contact ?? "—"), h("td", {}, codesOf(p.id).join(", ") || "—"),
          h("td", { class: "actions" }, write(h("button", { class: "secondary", type: "button", onclick: () => share(p) }, "Share link"))))))),
      shared,
      write(h("form", { class: "toolbar", style: "margin-top:12px", onsubmit: async (e) => {
        e.preventDefault();
        const { createPartner: r } = await gql(`mutation($i: PartnerInput!) { createPartner(input: $i) { partner { id } userErrors { message } } }`,
          { i: { name: partnerName$.value.trim(), contact: partnerContact.value.trim() || null } });
        if (r.userErrors.length) { partnerMessage.className = "error"; partnerMessage.textContent = r.userErrors.map((x) => x.message).join(" "); } else route();
      } }, h("div", {}, h("label", { for: "partner-name" }, "Name"), partnerName$), h("div", {}, h("label", { for: "partner-contact" }, "Contact"), partnerContact),
        h("button", {}, "Add partner"), partnerMessage))),
    h("div", { class: "card" }, h("h3", {}, "Share links"),
      h("table", { id: "share-links" },
        h("thead", {}, h("tr", {}, ...["For", "Made", "State", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, ...data.partnerShareLinks.map((l) => h("tr", {},
          h("td", {}, l.partnerId ? partnerName.get(l.partnerId) ?? "—" : `code ${l.promoCodeId}`), h("td", {}, when(l.createdAt)),
          h("td", {}, l.active ? badge("ACTIVE") : `revoked ${when(l.revokedAt)}`),
          h("td", { class: "actions" }, l.active ? write(h("button", { class: "danger", type: "button", onclick: async () => {
            if (!(await confirmDialog("Revoke this share link? Its page stops working at once."))) return;
            await gql(`mutation($id: ID!) { revokePartnerShareLink(id: $id) { userErrors { message } } }`, { id: l.id });
            route();
          } }, "Revoke")) : null)))))),
    h("div", { class: "card" }, h("h3", {}, "Batches of codes"),
      h("table", { id: "batches" },
        h("thead", {}, h("tr", {}, ...["Batch", "Redeemed / codes", "Active", "Revenue", "Discount given", ""].map((t, i) => h("th", { class: i >= 1 && i <= 4 ? "n" : null }, t)))),
        h("tbody", {}, ...data.promoBatches.map((b) => h("tr", { "data-batch": b.name },
          h("td", {}, h("strong", {}, b.name), h("div", { class: "muted" }, `${b.prefix}-… · ${b.recipients ? "one per recipient" : "for anyone"} · ${when(b.createdAt)}`)),
          h("td", { class: "n redeemed" }, `${b.codesRedeemed} / ${b.codeCount}`), h("td", { class: "n" }, b.codesActive),
          h("td", { class: "n" }, `${b.revenue.amount} ${b.revenue.currency}`), h("td", { class: "n" }, `${b.discountGiven.amount} ${b.revenue.currency}`),
          h("td", { class: "actions" },
            h("button", { class: "secondary", type: "button", onclick: () => download(b.csvPath, `batch-${b.id}-codes.csv`) }, "CSV"), " ",
            b.codesActive > 0 ? write(h("button", { class: "danger", type: "button", onclick: async () => {
              if (!(await confirmDialog(`Deactivate all ${b.codesActive} active codes of ${b.name}? Carts holding one lose its discount; orders keep theirs.`))) return;
              await gql(`mutation($id: ID!) { deactivatePromoBatch(id: $id) { userErrors { message } } }`, { id: b.id });
              route();
            } }, "Deactivate all")) : null)))))),
    write(form));
}

async function keysView(view) {
  const { apiKeys } = await gql("{ apiKeys { id name prefix scope createdAt lastUsedAt revokedAt } }");
  const name = h("input", { id: "key-name", placeholder: "dashboard" });
  const scope = h("select", { id: "key-scope" }, h("option", { value: "READ" }, "read"), h("option", { value: "ADMIN" }, "admin"));
  const message = h("div", { role: "alert" });
  view.append(h("h2", {}, "API keys"), h("div", { class: "card" }, h("table", {},
    h("thead", {}, h("tr", {}, ...["Name", "Prefix", "Scope", "Created", "Last used", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, ...apiKeys.map((k) => h("tr", {}, h("td", {}, k.name), h("td", {}, h("code", {}, k.prefix)), h("td", {}, k.scope),
      h("td", {}, when(k.createdAt)), h("td", {}, when(k.lastUsedAt)),
      h("td", {}, k.revokedAt ? `revoked ${when(k.revokedAt)}` : write(h("button", { class: "danger", type: "button", onclick: async () => {
        if (await confirmDialog(`Revoke the key ${k.name} (${k.prefix}…)? It stops working at once.`)) {
          await gql(`mutation($id: ID!) { revokeApiKey(id: $id) { userErrors { message } } }`, { id: k.id });
          route();
        }
      } }, "Revoke")))))))),
  write(h("form", { class: "card toolbar", onsubmit: async (e) => {
    e.preventDefault();
    const { createApiKey: r } = await gql(`mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret userErrors { message } } }`,
      { i: { name: name.value.trim(), scope: scope.value } });
    message.className = r.userErrors.length ? "error" : "secret";
    message.textContent = r.userErrors.length ? r.userErrors.map((x) => x.message).join(" ") : `New key (shown only now, copy it): ${r.secret}`;
  } }, h("div", {}, h("label", { for: "key-name" }, "Name"), name), h("div", {}, h("label", { for: "key-scope" }, "Scope"), scope), h("button", {}, "Create key"), message)));
}

// --- routing and sign-in ---------------------------------------------------------------

const ROUTES = [
  [/^#\/codes\/(\w+)$/, (view, m) => codeForm(view, m[1])],
  [/^#\/codes/, codesView],
  [/^#\/orders\/(\d+)$/, (view, m) => orderDetail(view, m[1])],
  [/^#\/orders/, ordersView],
  [/^#\/reports/, reportsView],
  [/^#\/events/, eventsView],
  [/^#\/webhooks/, webhooksView],
  [/^#\/audit/, auditView],
  [/^#\/keys/, keysView],
  [/^#\/campaigns/, campaignsView],
];

let current = null;
async function route() {
  const hash = location.hash || "#/codes";
  current?.cleanup?.();
  const view = h("div", { id: "view-body" });
  current = view;
  const section = `#/${hash.slice(2).split(/[/?]/)[0]}`;
  for (const a of document.querySelectorAll("nav a")) a.setAttribute("aria-current", a.getAttribute("href") === section ? "page" : "false");
  const [, render] = ROUTES.find(([re]) => re.test(hash)) ?? ROUTES[1];
  const match = hash.match(ROUTES.find(([re]) => re.test(hash))?.[0] ?? /x/);
  try {
    await render(view, match);
  } catch (e) {
    view.append(h("p", { class: "error" }, `Could not load this page: ${e.message}`));
  }
  if (current === view) $("view").replaceChildren(view);
}

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  try {
    ({ viewer } = await gql("{ viewer { scope keyName keyId account { name slug currency timeZone } } }"));
  } catch (e) {
    sessionStorage.removeItem(KEY);
    throw e;
  }
  readOnly = viewer.scope !== "ADMIN";
  $("signin").hidden = true;
  $("app").hidden = false;
  $("shop-name").textContent = `${viewer.account.name} · ${viewer.account.currency} · ${viewer.account.timeZone}`;
  $("who").textContent = `${viewer.keyName} (${readOnly ? "read only" : "admin"})`;
  connectLive();
  route();
}

$("signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("signin-error").textContent = "";
  try {
    await signIn($("signin-key").value.trim());
  } catch (err) {
    $("signin-error").textContent = `Sign-in failed: ${err.message}`;
  }
});
$("signout").addEventListener("click", () => { sessionStorage.removeItem(KEY); location.hash = ""; location.reload(); });
window.addEventListener("hashchange", () => { if (viewer) route(); });

const stored = sessionStorage.getItem(KEY);
if (stored) signIn(stored).catch(() => { $("signin").hidden = false; });
else $("signin").hidden = false;
