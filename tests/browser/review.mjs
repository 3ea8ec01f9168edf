// Headless Chromium test of the review pages a team shares (issue 15), in
// English and Simplified Chinese: the queue's filters, the review item with
// the compared face boxed over the sighting photo, equal-size face crops
// that enlarge on click, the evidence in plain words with the numbers under
// "details", confirm, undo and close the case, and the case's audit page.
// Expects a running `homeward serve` at HOMEWARD_URL (run.sh starts one).
// Screenshots (phone 390×844 and desktop 1280×900, both languages) go to
// docs/screenshots/. No CSP violation or console error is allowed.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const shots = join(root, "docs", "screenshots");
const BASE = process.env.HOMEWARD_URL;
const ADMIN = process.env.HOMEWARD_ADMIN_USER;
const ADMIN_PASSWORD = process.env.HOMEWARD_ADMIN_PASSWORD;
const PASSWORD = "browser review password";
assert.ok(BASE && ADMIN && ADMIN_PASSWORD, "set HOMEWARD_URL, HOMEWARD_ADMIN_USER, HOMEWARD_ADMIN_PASSWORD");
const fixture = (name) => join(root, "fixtures", name);

let passed = 0;
let failed = 0;
async function step(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${e.stack || e}`);
    throw e;
  }
}

async function api(method, path, { token, body, form } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const res = await fetch(BASE + path, { method, headers, body: payload });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return { res, json: text ? JSON.parse(text) : null };
}

const WORDS = {
  en: {
    strong: "Strong: fewer than 1 in 1,000",
    possible: "Possible: fewer than 1 in 100",
    weak: "Weak: up to 1 in 20",
    numbers: "The numbers",
    confirmed: "confirmed",
    closed: "closed",
    undo: "Undo this decision",
    close: "Close the case",
    audit: "Audit log of case",
    auditConfirmed: "decision: confirmed",
    auditUndone: "decision: undone",
    history: "Case history",
  },
  "zh-CN": {
    strong: "强：不同的孩子中，分数这么接近的不到千分之一",
    possible: "可能：不同的孩子中，分数这么接近的不到百分之一",
    weak: "弱：",
    numbers: "具体数字",
    confirmed: "已确认",
    closed: "已结案",
    undo: "撤销这个结论",
    close: "结案",
    audit: "的操作记录",
    auditConfirmed: "审核结论: 已确认",
    auditUndone: "审核结论: 已撤销",
    history: "案件经过",
  },
};

async function setup() {
  const login = await api("POST", "/api/session", { body: { username: ADMIN, password: ADMIN_PASSWORD } });
  const cookie = login.res.headers.get("set-cookie").split(";")[0];
  const tok = await fetch(BASE + "/api/tokens", {
    method: "POST",
    headers: { cookie, "x-csrf-token": login.json.csrf_token, "content-type": "application/json" },
    body: JSON.stringify({ user_id: login.json.id, name: "browser review test" }),
  });
  assert.equal(tok.status, 201);
  const admin = (await tok.json()).token;
  await api("POST", "/api/users", { token: admin, body: { username: "reviewer", password: PASSWORD, role: "caseworker" } });
  await api("POST", "/api/users", { token: admin, body: { username: "spotter", password: PASSWORD, role: "volunteer" } });
  const vt = await api("POST", "/api/tokens", {
    token: admin,
    body: { user_id: (await api("GET", "/api/users", { token: admin })).json.find((u) => u.username === "spotter").id, name: "t" },
  });
  // A sighting (a repeat of an earlier one, if the other scripts ran first:
  // then the earlier one is matched).
  const s = new FormData();
  s.append("place", "Gare de Lyon, platform 3");
  s.append("photo", new Blob([readFileSync(fixture("obama2.jpg"))]), "obama2.jpg");
  await api("POST", "/api/sightings", { token: vt.json.token, form: s });
  // One case per language: a new case photo surfaces the past sightings.
  const cases = {};
  for (const [lang, name, photo] of [
    ["en", "Review Example", "obama.jpg"],
    ["zh-CN", "审核示例", "obama3.jpg"],
  ]) {
    const c = await api("POST", "/api/cases", {
      token: admin,
      body: { child_name: name, sex: "male", missing_date: "2024-03-01", missing_place: "Lyon" },
    });
    const form = new FormData();
    form.append("age_months", "96");
    form.append("photo", new Blob([readFileSync(fixture(photo))]), photo);
    await api("POST", `/api/cases/${c.json.id}/photos`, { token: admin, form });
    const q = (await api("GET", `/api/review?case=${c.json.id}`, { token: admin })).json;
    assert.ok(q.length >= 1, `no match queued beside case ${c.json.id}`);
    const item = (await api("GET", `/api/review/${q[0].match_id}`, { token: admin })).json;
    cases[lang] = { id: c.json.id, match: q[0].match_id, band: q[0].band, item };
  }
  return cases;
}

async function signIn(page, user, password) {
  await page.goto(BASE + "/login");
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/login")), page.click('button[type="submit"]')]);
}

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

async function shoot(page, name) {
  for (const [size, vp] of [["phone", PHONE], ["desktop", DESKTOP]]) {
    await page.setViewportSize(vp);
    await page.screenshot({ path: join(shots, `${name}-${size}.png`), fullPage: true });
  }
}

let browser;
try {
  const cases = await setup();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  for (const lang of ["en", "zh-CN"]) {
    const W = WORDS[lang];
    const c = cases[lang];
    const context = await browser.newContext({ locale: lang, viewport: PHONE, deviceScaleFactor: 1, extraHTTPHeaders: { "accept-language": lang } });
    const page = await context.newPage();
    const problems = [];
    page.on("console", (m) => { if (m.type() === "error") problems.push(`${lang}: ${m.text()}`); });
    page.on("pageerror", (e) => problems.push(`${lang}: ${e}`));
    await signIn(page, "reviewer", PASSWORD);

    await step(`${lang}: the queue filters by case and band`, async () => {
      await page.goto(`${BASE}/review?case=${c.id}&band=${c.band}`);
      assert.equal(await page.getAttribute("html", "lang"), lang);
      const items = page.locator("li.queue-item");
      assert.ok((await items.count()) >= 1);
      for (const b of await items.evaluateAll((els) => els.map((e) => e.dataset.band))) assert.equal(b, c.band);
      assert.ok((await items.first().textContent()).includes(W[c.band]));
      await page.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
      await shoot(page, `review-queue-${lang}`);
      await page.setViewportSize(PHONE);
    });

    await step(`${lang}: the review item boxes the compared face and says the evidence plainly`, async () => {
      await page.goto(`${BASE}/review/${c.match}`);
      await page.waitForFunction(() => [...document.images].every((i) => i.complete && i.naturalWidth > 0));
      assert.ok((await page.textContent("#evidence-text")).includes(W[c.band]));
      // The box sits where the stored face box is, scaled to the shown photo.
      for (const vp of [PHONE, DESKTOP]) {
        await page.setViewportSize(vp);
        const img = await page.locator(".photo-box img.main").boundingBox();
        const box = await page.locator("#face-box").boundingBox();
        const f = c.item.sighting_face;
        const sx = img.width / f.width;
        const sy = img.height / f.height;
        const want = { x: img.x + f.box[0] * sx, y: img.y + f.box[1] * sy, w: (f.box[2] - f.box[0]) * sx, h: (f.box[3] - f.box[1]) * sy };
        for (const [got, exp] of [[box.x, want.x], [box.y, want.y], [box.width, want.w], [box.height, want.h]]) {
          assert.ok(Math.abs(got - exp) <= 3, `box ${JSON.stringify(box)} vs ${JSON.stringify(want)}`);
        }
        assert.ok(box.x >= img.x - 2 && box.y >= img.y - 2 && box.x + box.width <= img.x + img.width + 2 && box.y + box.height <= img.y + img.height + 2, "box inside the photo");
        assert.ok(box.width > 10 && box.height > 10, "box has a size");
      }
      // Equal-size crops, side by side.
      const crops = await page.locator("svg.crop").evaluateAll((els) => els.map((e) => e.getBoundingClientRect()).map((r) => [r.width, r.height, r.top]));
      assert.equal(crops.length, 2);
      assert.deepEqual(crops[0].slice(0, 2), crops[1].slice(0, 2));
      assert.equal(crops[0][2], crops[1][2]);
      // The numbers are on demand.
      assert.equal(await page.locator("#num-fmr").isVisible(), false);
      await page.click("details.numbers summary");
      assert.equal(await page.locator("#num-fmr").isVisible(), true);
      assert.ok((await page.textContent("details.numbers summary")).includes(W.numbers));
      // Nothing is wider than a phone.
      await page.setViewportSize(PHONE);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= PHONE.width, `the page is ${wide} px wide on a ${PHONE.width} px phone`);
      await shoot(page, `review-item-${lang}`);
      // Click a face to enlarge it, then close.
      await page.setViewportSize(PHONE);
      await page.click('a.zoom[href="#zoom-sighting"]');
      await page.waitForSelector("#zoom-sighting svg.crop-big", { state: "visible" });
      const big = await page.locator("#zoom-sighting svg.crop-big").boundingBox();
      assert.ok(big.width > 300, `enlarged: ${big.width}`);
      await page.screenshot({ path: join(shots, `review-zoom-${lang}-phone.png`) });
      await page.click("#zoom-sighting a.close");
      await page.waitForSelector("#zoom-sighting svg.crop-big", { state: "hidden" });
    });

    await step(`${lang}: a case worker confirms, undoes and closes the case`, async () => {
      await page.goto(`${BASE}/review/${c.match}`);
      await page.fill('textarea[name="note"]', lang === "en" ? "Same child, checked the ear" : "同一个孩子，核对过耳朵");
      await Promise.all([page.waitForSelector("#decision"), page.click("button.confirm")]);
      assert.ok((await page.textContent("#decision")).includes(W.confirmed));
      await shoot(page, `review-decided-${lang}`);
      await Promise.all([page.waitForSelector("#decide"), page.click(`#undo button`)]);
      assert.equal(await page.locator("#decision").count(), 0);
      await Promise.all([page.waitForSelector("#decision"), page.click("button.confirm")]);
      await Promise.all([page.waitForLoadState("load"), page.click(`#case-status-form button[value="closed"]`)]);
      assert.equal(new URL(page.url()).pathname, `/review/${c.match}`);
      assert.equal((await page.textContent("#case-status")).trim(), W.closed);
    });

    await step(`${lang}: the case's audit page lists the decisions, translated`, async () => {
      await Promise.all([page.waitForURL("**/audit?case=*"), page.click("#case-audit")]);
      const text = await page.textContent("main");
      assert.ok(text.includes(W.audit), text);
      assert.ok(text.includes(W.auditConfirmed) && text.includes(W.auditUndone), text);
      assert.ok(!text.includes("Gare de Lyon"), "no places on the audit page");
      await shoot(page, `audit-${lang}`);
      await page.goto(`${BASE}/cases/${c.id}`);
      await shoot(page, `case-${lang}`);
    });

    await step(`${lang}: the case page tells the case's life, newest first, and prints without forms`, async () => {
      await page.setViewportSize(PHONE);
      await page.goto(`${BASE}/cases/${c.id}`);
      const note = lang === "en" ? "Family called back" : "家人回电";
      const why = lang === "en" ? "Search goes on" : "继续寻找";
      await page.fill('#note-form textarea[name="note"]', note);
      await Promise.all([page.waitForURL(`**/cases/${c.id}#timeline`), page.click("#note-form button[type=submit]")]);
      await page.fill('#case-status-form textarea[name="why"]', why);
      await Promise.all([page.waitForLoadState("load"), page.click(`#case-status-form button[value="searching"]`)]);
      assert.ok((await page.textContent("#timeline h2")).includes(W.history));
      const kinds = await page.locator("#timeline li.event").evaluateAll((els) => els.map((e) => e.dataset.kind));
      assert.equal(kinds[0], "status", `newest first: ${kinds}`);
      assert.equal(kinds[kinds.length - 1], "registered", `oldest last: ${kinds}`);
      assert.ok(kinds.includes("note") && kinds.includes("matched") && kinds.includes("decided"), `${kinds}`);
      assert.ok((await page.locator("#timeline li.event").first().textContent()).includes(why));
      assert.ok((await page.locator('#timeline li.event[data-kind="note"]').first().textContent()).includes(note));
      for (const rel of await page.locator("#timeline a.map-link").evaluateAll((els) => els.map((e) => e.rel))) {
        assert.equal(rel, "noopener noreferrer");
      }
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= PHONE.width, `the case page is ${wide} px wide on a ${PHONE.width} px phone`);
      await shoot(page, `case-timeline-${lang}`);
      // On paper: no navigation, no forms, the timeline kept.
      await page.emulateMedia({ media: "print" });
      assert.equal(await page.locator("header.top").isVisible(), false);
      assert.equal(await page.locator("#note-form").isVisible(), false);
      assert.equal(await page.locator("#timeline").isVisible(), true);
      await page.emulateMedia({ media: "screen" });
      await page.goto(`${BASE}/cases/${c.id}/print`);
      assert.equal(await page.locator("form").count(), 0);
      assert.ok((await page.textContent("#timeline")).includes(note));
    });

    await step(`${lang}: no CSP violation or script error`, async () => {
      assert.deepEqual(problems, []);
    });
    await context.close();
  }
} finally {
  if (browser) await browser.close();
  console.log(`${passed} passed, ${failed} failed`);
}
process.exit(failed ? 1 : 0);
