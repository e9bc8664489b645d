// The example storefront: plain JS, no build step. It runs on the tixshop server in demo
// mode, or on any origin of its own (set <meta name="tixshop-api">, and list the origin in
// the server's TIXSHOP_STOREFRONT_ORIGINS).
//
// - Cart totals are rendered only from the `cartUpdated` subscription's pushes
//   (graphql-transport-ws, spoken here directly); mutation answers are used for their
//   userErrors alone. No money arithmetic happens here: amounts are exact decimal strings.
// - Links: `?promo=CODE&utm_source=…` on this page are handed to the API once, as the query
//   string of the first GraphQL request (`/graphql?promo=…`), which keeps them in the
//   buyer's session: a valid code is applied to the cart, an unknown one is ignored
//   silently. On the server's own pages the page request itself already did that.
// - Checkout: card (Stripe Checkout, or the test page in demo mode), PayPal, or, when the
//   total is 0, "Get tickets" (the free path, no payment page). The provider sends the
//   buyer back to `?paid=1` (the thank-you page, built from `receipt`) or `?cancelled=1`.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content?.trim() ?? "";
const api = meta("tixshop-api").replace(/\/$/, "");
const slug = location.pathname.match(/^\/shops\/([^/]+)/)?.[1] ?? (meta("tixshop-shop") || "demo");
const sameOrigin = api === "" || new URL(api, location.href).origin === location.origin;
const cartKey = `tixshop_cart_${slug}`;
const orderKey = `tixshop_order_${slug}`;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const CART_FIELDS = `id status email currency total { amount } subtotal { amount } discount { amount } net { amount } vat { amount }
  vatBreakdown { rate vat { amount } }
  lines { ticketTypeId name quantity available originalTotal { amount } total { amount } discount { amount }
          pricePoints { unitPrice { amount } quantity } }
  appliedPromo { code description } promoNotice { code message }`;

// The link parameters, handed to the API with the first request only (then dropped from
// the address bar, so a reload does not count as a second visit).
const LINK_KEYS = ["promo", "utm_source", "utm_medium", "utm_campaign"];
let linkQuery = (() => {
  const link = new URLSearchParams();
  for (const key of LINK_KEYS) if (params.get(key)) link.set(key, params.get(key));
  return link.toString();
})();
if (linkQuery) {
  const rest = new URLSearchParams(location.search);
  for (const key of LINK_KEYS) rest.delete(key);
  history.replaceState(null, "", `${location.pathname}${rest.size ? `?${rest}` : ""}`);
  // Served by tixshop itself, the page request captured them already.
  if (meta("tixshop-links-captured") === "yes") linkQuery = "";
}

async function gql(query, variables = {}) {
  const url = `${api}/graphql${linkQuery ? `?${linkQuery}` : ""}`;
  linkQuery = "";
  const response = await fetch(url, {
    method: "POST",
    credentials: sameOrigin ? "same-origin" : "include",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(body.errors.map((e) => e.message).join("; "));
  return body.data;
}

function text(el, value) { el.textContent = value; }
function money(amount, currency) { return `${amount} ${currency}`; }
function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content !== undefined) node.textContent = content;
  return node;
}

let shop = null;
// The buyer's cart, once it is known: the Add buttons show before it is (a click then
// waits for it instead of sending no cart at all).
let cartReady = null;
const currentCart = () => (cartReady ??= ensureCart());
let lastCart = null;
const ticketErrors = new Map();

function stockLabel(t) {
  if (t.available === null) return null;
  if (t.available === 0) return { text: "Sold out", out: true };
  if (t.available <= 10) return { text: `Only ${t.available} left`, out: false };
  return null;
}

async function loadShop() {
  ({ shop } = await gql(`query($slug: String!) { shop(slug: $slug) { name currency pricesIncludeVat timeZone testPayments paymentMethods
      events { name venue startsAt ticketTypes { id name price { amount currency } available onSale } } } }`, { slug }));
  if (!shop) { text($("shop-name"), "No such shop"); return false; }
  document.title = `${shop.name} — tickets`;
  text($("shop-name"), shop.name);
  text($("shop-info"), `Prices in ${shop.currency}, ${shop.pricesIncludeVat ? "VAT included" : "plus VAT"}`);
  $("test-banner").hidden = !shop.testPayments;
  text($("pay-card").querySelector(".pay-label"), shop.testPayments ? "Pay by card (test mode)" : "Pay by card");
  $("pay-paypal").hidden = !shop.paymentMethods.includes("PAYPAL");
  renderEvents();
  return true;
}

function renderEvents() {
  const events = $("events");
  events.replaceChildren();
  if (shop.events.length === 0) events.append(el("p", "muted", "No events on sale right now."));
  for (const event of shop.events) {
    const when = new Date(event.startsAt).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: shop.timeZone });
    events.append(el("h3", "", `${event.name} — ${event.venue ?? ""}, ${when}`));
    for (const t of event.ticketTypes) {
      const row = el("div", "ticket");
      row.dataset.ticketType = t.id;
      const name = el("span", "name", t.name);
      const price = el("span", "price", money(t.price.amount, t.price.currency));
      const parts = [name];
      const stock = stockLabel(t);
      if (stock) parts.push(el("span", `stock${stock.out ? " out" : ""}`, stock.text));
      const add = el("button", "", "Add");
      add.type = "button";
      add.setAttribute("aria-label", `Add ${t.name}`);
      add.disabled = !t.onSale || t.available === 0;
      add.addEventListener("click", () => addTicket(t));
      parts.push(price, add);
      const error = ticketErrors.get(t.id);
      if (error) {
        const note = el("div", "ticket-error", error);
        note.setAttribute("role", "alert");
        parts.push(note);
      }
      row.append(...parts);
      events.append(row);
    }
  }
}

async function addTicket(t) {
  const data = await gql(`mutation($c: ID!, $t: ID!) { addToCart(cartId: $c, ticketTypeId: $t, quantity: 1) {
      userErrors { code message } } }`, { c: await currentCart(), t: t.id });
  const errors = data.addToCart.userErrors;
  if (errors.length) ticketErrors.set(t.id, errors.map((e) => e.message).join(" "));
  else ticketErrors.delete(t.id);
  // Capacity may have changed for everyone: show what is left now.
  await loadShop();
  if (lastCart) render(lastCart);
}

async function ensureCart() {
  const stored = localStorage.getItem(cartKey);
  if (stored) {
    const { cart } = await gql(`query($id: ID!) { cart(id: $id) { id status } }`, { id: stored });
    if (cart && cart.status === "OPEN") return cart.id;
  }
  const { createCart } = await gql(`mutation($s: String!) { createCart(shopSlug: $s) { cart { id } userErrors { message } } }`, { s: slug });
  const id = createCart.cart.id;
  localStorage.setItem(cartKey, id);
  return id;
}

async function mutate(query, variables, field, errorBox = $("promo-error")) {
  const data = await gql(query, { c: await currentCart(), ...variables });
  const errors = data[field].userErrors;
  text(errorBox, errors.length ? errors.map((e) => e.message).join(" ") : "");
  return errors;
}

function render(cart) {
  lastCart = cart;
  // Back from a cancelled payment: the address given at checkout is still the cart's.
  if (cart.email && !$("email").value) $("email").value = cart.email;
  const c = cart.currency;
  const lines = $("lines");
  lines.replaceChildren();
  if (cart.lines.length === 0) lines.append(el("p", "muted", "Your cart is empty."));
  for (const line of cart.lines) {
    const row = el("div", "line");
    const points = line.pricePoints.map((p) => `${p.quantity} × ${p.unitPrice.amount}`).join(" + ");
    const label = el("span", "name", `${line.name} — ${points}`);
    const price = el("span", "price");
    if (!/^0(\.0+)?$/.test(line.discount.amount)) price.append(el("span", "was", line.originalTotal.amount));
    price.append(document.createTextNode(money(line.total.amount, c)));
    const minus = el("button", "secondary", "−");
    minus.type = "button";
    minus.setAttribute("aria-label", `One ${line.name} less`);
    minus.addEventListener("click", () => mutate(`mutation($c: ID!, $t: ID!, $q: Int!) { updateCartLine(cartId: $c, ticketTypeId: $t, quantity: $q) {
        userErrors { message } } }`, { t: line.ticketTypeId, q: line.quantity - 1 }, "updateCartLine"));
    const plus = el("button", "secondary", "+");
    plus.type = "button";
    plus.setAttribute("aria-label", `One ${line.name} more`);
    plus.disabled = line.available !== null && line.available <= line.quantity;
    plus.addEventListener("click", () => mutate(`mutation($c: ID!, $t: ID!, $q: Int!) { updateCartLine(cartId: $c, ticketTypeId: $t, quantity: $q) {
        userErrors { message } } }`, { t: line.ticketTypeId, q: line.quantity + 1 }, "updateCartLine"));
    row.append(label, price, minus, plus);
    if (line.available !== null && line.available < line.quantity) {
      row.append(el("div", "ticket-error", line.available === 0 ? `${line.name} is sold out.` : `Only ${line.available} ${line.name} left.`));
    }
    lines.append(row);
  }
  const totals = $("totals");
  totals.replaceChildren();
  const add = (label, value, cls) => {
    const row = el("div", `total-row ${cls ?? ""}`);
    row.append(el("span", "", label), el("span", "price", value));
    totals.append(row);
  };
  add("Subtotal", money(cart.subtotal.amount, c));
  if (cart.appliedPromo) add(`Promo code ${cart.appliedPromo.code}`, `−${money(cart.discount.amount, c)}`, "applied");
  add("Net", money(cart.net.amount, c));
  for (const v of cart.vatBreakdown) add(`VAT ${v.rate}%`, money(v.vat.amount, c));
  add("Total", money(cart.total.amount, c), "grand");

  const promo = cart.appliedPromo ?? null;
  $("promo-applied").hidden = !promo;
  $("promo-form").hidden = Boolean(promo);
  if (promo) {
    text($("promo-applied-text"), `Applied: ${promo.code}`);
    $("promo").open = true;
  }
  text($("promo-notice"), cart.promoNotice ? cart.promoNotice.message : "");
  if (cart.promoNotice) $("promo").open = true;
  for (const span of document.querySelectorAll(".pay-total")) text(span, money(cart.total.amount, c));
  const empty = cart.lines.length === 0;
  const free = !empty && /^0(\.0+)?$/.test(cart.total.amount);
  $("pay-free").hidden = !free;
  $("pay-card").hidden = free;
  $("pay-paypal").hidden = free || !shop.paymentMethods.includes("PAYPAL");
  for (const id of ["pay-card", "pay-paypal"]) $(id).disabled = empty || !shop.paymentMethods.includes($(id).dataset.provider);
}

function socketUrl() {
  const base = new URL(api || location.origin, location.href);
  return `${base.protocol === "https:" ? "wss" : "ws"}://${base.host}/graphql/ws`;
}

function subscribe(id, attempt = 0) {
  const socket = new WebSocket(socketUrl(), "graphql-transport-ws");
  socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "connection_ack") {
      text($("live"), "live");
      socket.send(JSON.stringify({ id: "cart", type: "subscribe", payload: {
        query: `subscription($c: ID!) { cartUpdated(cartId: $c) { ${CART_FIELDS} } }`, variables: { c: id } } }));
    } else if (message.type === "next" && message.payload.data) {
      attempt = 0;
      render(message.payload.data.cartUpdated);
    } else if (message.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    }
  });
  socket.addEventListener("close", () => {
    text($("live"), "reconnecting…");
    setTimeout(() => subscribe(id, attempt + 1), Math.min(10000, 500 * 2 ** attempt));
  });
}

function returnUrl(state) {
  const url = new URL(location.href);
  url.search = "";
  url.hash = "";
  url.searchParams.set(state, "1");
  return url.toString();
}

async function checkout(provider) {
  const box = $("checkout-error");
  const email = $("email").value.trim();
  if (!email) {
    text(box, "Please enter your email address: your tickets and receipt go there.");
    $("email").focus();
    return;
  }
  for (const b of document.querySelectorAll(".pay")) b.disabled = true;
  text(box, "");
  try {
    const data = await gql(`mutation($c: ID!, $input: CheckoutInput!) { checkout(cartId: $c, input: $input) {
        order { id status } redirectUrl accessToken userErrors { field code message } } }`,
      { c: await currentCart(), input: { email, provider, successUrl: returnUrl("paid"), cancelUrl: returnUrl("cancelled") } });
    const result = data.checkout;
    if (result.userErrors.length) {
      text(box, result.userErrors.map((e) => e.message).join(" "));
      if (result.userErrors.some((e) => e.field?.includes("email"))) $("email").focus();
      return;
    }
    localStorage.setItem(orderKey, result.accessToken);
    if (result.redirectUrl) {
      location.assign(result.redirectUrl);
      return;
    }
    // The free path: paid at once, no payment page.
    await showReceipt();
  } finally {
    if (lastCart) render(lastCart);
  }
}

function showMessage(title, body, back) {
  $("message").hidden = false;
  text($("message-title"), title);
  text($("message-text"), body);
  $("message-back").hidden = !back;
}

async function showReceipt(attempt = 0) {
  const token = localStorage.getItem(orderKey);
  if (!token) return false;
  const { receipt } = await gql(`query($t: String!) { receipt(accessToken: $t) { number status total { amount currency } invoicePath
      invoice { currency lines { description quantity unitPrice lineTotal } promo { label discountAmount } subtotal net vat { rate vat } total } } }`, { t: token });
  if (!receipt) return false;
  if (receipt.status === "PENDING") {
    // The provider's confirmation is on its way.
    if (attempt < 20) { setTimeout(() => showReceipt(attempt + 1), 500); }
    showMessage("Waiting for your payment…", "As soon as the payment provider confirms it, your tickets are here.", false);
    return true;
  }
  if (receipt.status === "EXPIRED" || receipt.status === "CANCELLED") {
    localStorage.removeItem(orderKey);
    showMessage("Your payment did not go through", `Order ${receipt.number} was not paid (${receipt.status.toLowerCase()}). Nothing was charged; your cart is still here.`, true);
    return false;
  }
  $("message").hidden = true;
  $("shop-view").hidden = true;
  $("receipt").hidden = false;
  const inv = receipt.invoice;
  text($("receipt-status"), `Order ${receipt.number} is paid: ${money(receipt.total.amount, receipt.total.currency)}. Your tickets are on their way by email.`);
  const lines = $("receipt-lines");
  lines.replaceChildren();
  const totals = $("receipt-totals");
  totals.replaceChildren();
  if (inv) {
    for (const l of inv.lines) {
      const row = el("div", "line");
      row.append(el("span", "name", `${l.quantity} × ${l.description} at ${l.unitPrice}`), el("span", "price", money(l.lineTotal, inv.currency)));
      lines.append(row);
    }
    if (inv.promo) lines.append(el("p", "promo-line", `${inv.promo.label}: the prices above include a discount of ${money(inv.promo.discountAmount, inv.currency)}.`));
    const add = (label, value, cls) => {
      const row = el("div", `total-row ${cls ?? ""}`);
      row.append(el("span", "", label), el("span", "price", value));
      totals.append(row);
    };
    add("Net", money(inv.net, inv.currency));
    for (const v of inv.vat) add(`VAT ${v.rate}%`, money(v.vat, inv.currency));
    add("Total", money(inv.total, inv.currency), "grand");
  }
  if (receipt.invoicePath) {
    $("receipt-invoice").href = `${api}${receipt.invoicePath}`;
    $("receipt-invoice").hidden = false;
  }
  // The cart was checked out: the next purchase starts a new one.
  localStorage.removeItem(cartKey);
  return true;
}

$("promo-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = $("promo-input").value.trim();
  if (!code) return;
  const errors = await mutate(`mutation($c: ID!, $code: String!) { applyPromo(cartId: $c, code: $code) { userErrors { message } } }`, { code }, "applyPromo");
  if (!errors.length) $("promo-input").value = "";
});
$("promo-remove").addEventListener("click", () => mutate(`mutation($c: ID!) { removePromo(cartId: $c) { userErrors { message } } }`, {}, "removePromo"));
for (const id of ["pay-card", "pay-paypal", "pay-free"]) $(id).addEventListener("click", () => checkout($(id).dataset.provider));
$("message-back").addEventListener("click", () => { $("message").hidden = true; $("cart").scrollIntoView(); });
$("receipt-again").addEventListener("click", () => { localStorage.removeItem(orderKey); location.assign(location.pathname); });

if (await loadShop()) {
  if (params.get("paid") && await showReceipt()) {
    // The thank-you page.
  } else {
    if (params.get("cancelled")) {
      showMessage("Payment cancelled", "Nothing was charged. Your cart is still here: pay when you are ready.", true);
    }
    subscribe(await currentCart());
  }
}
