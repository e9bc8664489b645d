// The example storefront: plain JS, no build step. Cart totals are rendered only from
// the `cartUpdated` subscription's pushes (graphql-transport-ws, spoken here directly);
// mutation responses are used for their userErrors alone.

const slug = location.pathname.match(/^\/shops\/([^/]+)/)?.[1] ?? "demo";
const cartKey = `tixshop_cart_${slug}`;
const $ = (id) => document.getElementById(id);

const CART_FIELDS = `id currency total { amount } subtotal { amount } discount { amount } net { amount } vat { amount }
  vatBreakdown { rate vat { amount } }
  lines { ticketTypeId name quantity originalTotal { amount } total { amount } discount { amount }
          pricePoints { unitPrice { amount } quantity } }
  appliedPromo { code description } promoNotice { code message }`;

async function gql(query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(body.errors.map((e) => e.message).join("; "));
  return body.data;
}

function text(el, value) { el.textContent = value; }
function money(amount, currency) { return `${amount} ${currency}`; }

async function loadShop() {
  const { shop } = await gql(`query($slug: String!) { shop(slug: $slug) { name currency
      events { name venue startsAt ticketTypes { id name price { amount currency } } } } }`, { slug });
  if (!shop) { text($("shop-name"), "No such shop"); return; }
  text($("shop-name"), shop.name);
  text($("shop-info"), `Prices in ${shop.currency}`);
  const events = $("events");
  events.replaceChildren();
  for (const event of shop.events) {
    const h = document.createElement("h3");
    text(h, `${event.name} — ${event.venue ?? ""} ${new Date(event.startsAt).toLocaleDateString()}`);
    events.append(h);
    for (const t of event.ticketTypes) {
      const row = document.createElement("div");
      row.className = "ticket";
      const label = document.createElement("span");
      text(label, t.name);
      const price = document.createElement("span");
      price.className = "price";
      text(price, money(t.price.amount, t.price.currency));
      const add = document.createElement("button");
      add.type = "button";
      add.dataset.ticketType = t.id;
      text(add, "Add");
      add.addEventListener("click", () => mutate(`mutation($c: ID!, $t: ID!) { addToCart(cartId: $c, ticketTypeId: $t, quantity: 1) {
          userErrors { message } } }`, { t: t.id }, "addToCart"));
      row.append(label, price, add);
      events.append(row);
    }
  }
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

let cartId = null;

async function mutate(query, variables, field) {
  const data = await gql(query, { c: cartId, ...variables });
  const errors = data[field].userErrors;
  text($("promo-error"), errors.length ? errors.map((e) => e.message).join(" ") : "");
  return errors;
}

function render(cart) {
  const c = cart.currency;
  const lines = $("lines");
  lines.replaceChildren();
  if (cart.lines.length === 0) {
    const p = document.createElement("p");
    p.className = "muted";
    text(p, "Your cart is empty.");
    lines.append(p);
  }
  for (const line of cart.lines) {
    const row = document.createElement("div");
    row.className = "line";
    const label = document.createElement("span");
    const points = line.pricePoints.map((p) => `${p.quantity} × ${p.unitPrice.amount}`).join(" + ");
    text(label, `${line.name} — ${points}`);
    const price = document.createElement("span");
    price.className = "price";
    // Amounts are exact decimal strings from the API; no arithmetic happens here.
    if (!/^0(\.0+)?$/.test(line.discount.amount)) {
      const was = document.createElement("span");
      was.className = "was";
      text(was, line.originalTotal.amount);
      price.append(was);
    }
    price.append(document.createTextNode(money(line.total.amount, c)));
    const minus = document.createElement("button");
    minus.className = "secondary";
    minus.type = "button";
    text(minus, "−");
    minus.addEventListener("click", () => mutate(`mutation($c: ID!, $t: ID!, $q: Int!) { updateCartLine(cartId: $c, ticketTypeId: $t, quantity: $q) {
        userErrors { message } } }`, { t: line.ticketTypeId, q: line.quantity - 1 }, "updateCartLine"));
    row.append(label, price, minus);
    lines.append(row);
  }
  const totals = $("totals");
  totals.replaceChildren();
  const add = (label, value, cls) => {
    const row = document.createElement("div");
    row.className = `total-row ${cls ?? ""}`;
    const l = document.createElement("span");
    text(l, label);
    const v = document.createElement("span");
    v.className = "price";
    text(v, value);
    row.append(l, v);
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
  text($("pay-total"), money(cart.total.amount, c));
  $("pay").disabled = cart.lines.length === 0;
}

function subscribe(id, attempt = 0) {
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql/ws`, "graphql-transport-ws");
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

$("promo-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = $("promo-input").value.trim();
  if (!code) return;
  const errors = await mutate(`mutation($c: ID!, $code: String!) { applyPromo(cartId: $c, code: $code) { userErrors { message } } }`, { code }, "applyPromo");
  if (!errors.length) $("promo-input").value = "";
});
$("promo-remove").addEventListener("click", () => mutate(`mutation($c: ID!) { removePromo(cartId: $c) { userErrors { message } } }`, {}, "removePromo"));
$("pay").addEventListener("click", () => text($("live"), "Checkout arrives with the payments work."));

await loadShop();
cartId = await ensureCart();
subscribe(cartId);
