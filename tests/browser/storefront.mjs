// Browser check of the example storefront, run by hand (not by `cargo test`):
//
//   npm install playwright-core          # once, in this folder
//   TIXSHOP_URL=http://127.0.0.1:8000 node storefront.mjs /tmp/storefront.png
//
// Opens the storefront through a ?promo=NEWS10 link, adds 2 × Standing and 1 × Seated,
// and waits until the pushed cart shows "Applied: NEWS10" and the hand-checked total
// 67.48 EUR; then takes a screenshot. Uses Debian's Chromium (`which chromium`).
import { chromium } from "playwright-core";
import { execSync } from "node:child_process";

const base = process.env.TIXSHOP_URL ?? "http://127.0.0.1:8000";
const out = process.argv[2] ?? "storefront.png";
const browser = await chromium.launch({
  executablePath: execSync("which chromium").toString().trim(),
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 1100 } });
  page.on("console", (m) => console.log("page:", m.text()));
  await page.goto(`${base}/?promo=NEWS10&utm_source=newsletter`);
  await page.getByText("live", { exact: true }).waitFor({ timeout: 10000 });
  const add = (name) => page.locator(".ticket", { hasText: name }).getByRole("button", { name: "Add" }).click();
  await add("Standing");
  await page.locator(".line", { hasText: "Standing" }).waitFor();
  await add("Standing");
  await add("Seated");
  await page.locator("#promo-applied-text", { hasText: "Applied: NEWS10" }).waitFor({ timeout: 10000 });
  await page.locator(".grand", { hasText: "67.48 EUR" }).waitFor({ timeout: 10000 });
  const open = await page.locator("#promo").evaluate((d) => d.open);
  if (!open) throw new Error("the promo disclosure should be open");
  await page.screenshot({ path: out, fullPage: true });
  console.log(`ok: Applied: NEWS10, total 67.48 EUR; screenshot ${out}`);
} finally {
  await browser.close();
}
