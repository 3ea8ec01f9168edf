// Headless Chromium test of the Homeward pages (playwright-core driving
// Debian's /usr/bin/chromium, fresh profile). Expects a running
// `homeward serve` at HOMEWARD_URL with the admin HOMEWARD_ADMIN_USER /
// HOMEWARD_ADMIN_PASSWORD (run.sh starts one).
//
// 1. Setup over the API: a volunteer, a case worker, two cases with photos.
// 2. The volunteer signs in on a phone-sized page, takes a photo (file
//    input), adds the location, apparent age, sex and a note, and gets a receipt.
// 3. The case worker signs in, sees the sighting in the queue beside the
//    right case, opens it, and confirms it with a note.
// Screenshots go to docs/. No CSP violation or console error is allowed.
import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const BASE = process.env.HOMEWARD_URL;
const ADMIN = process.env.HOMEWARD_ADMIN_USER;
const ADMIN_PASSWORD = process.env.HOMEWARD_ADMIN_PASSWORD;
const PASSWORD = "browser test password";
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

async function setup() {
  // Admin session -> admin token, then users and cases.
  const login = await api("POST", "/api/session", { body: { username: ADMIN, password: ADMIN_PASSWORD } });
  const cookie = login.res.headers.get("set-cookie").split(";")[0];
  const csrf = login.json.csrf_token;
  const tok = await fetch(BASE + "/api/tokens", {
    method: "POST",
    headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" },
    body: JSON.stringify({ user_id: login.json.id, name: "browser test" }),
  });
  assert.equal(tok.status, 201);
  const admin = (await tok.json()).token;
  for (const [username, role] of [["volunteer1", "volunteer"], ["worker1", "caseworker"]]) {
    await api("POST", "/api/users", { token: admin, body: { username, password: PASSWORD, role } });
  }
  const cases = {};
  for (const [name, sex, photo, age] of [
    ["Barack Example", "male", "obama.jpg", "96"],
    ["Grace Example", "female", "grace_hopper.jpg", "84"],
  ]) {
    const c = await api("POST", "/api/cases", {
      token: admin,
      body: { child_name: name, sex, missing_date: "2024-03-01", missing_place: "Lyon" },
    });
    const form = new FormData();
    form.append("age_months", age);
    form.append("source", "family");
    form.append("photo", new Blob([readFileSync(fixture(photo))]), photo);
    await api("POST", `/api/cases/${c.json.id}/photos`, { token: admin, form });
    cases[name] = c.json.id;
  }
  return cases;
}

async function signIn(page, user, password) {
  await page.goto(BASE + "/login");
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/login")), page.click('button[type="submit"]')]);
}

const profile = mkdtempSync(join(tmpdir(), "homeward-chromium-"));
let context;
try {
  const cases = await setup();
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 1,
    isMobile: true,
    hasTouch: true,
    geolocation: { latitude: 48.8443, longitude: 2.3744 },
    permissions: ["geolocation"],
  });
  const problems = [];
  const watch = (page) => {
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(m.text());
    });
    page.on("pageerror", (e) => problems.push(String(e)));
  };

  const page = context.pages()[0] || (await context.newPage());
  watch(page);
  let receipt;
  await step("volunteer submits a sighting from the mobile page", async () => {
    await signIn(page, "volunteer1", PASSWORD);
    assert.equal(new URL(page.url()).pathname, "/submit");
    await page.setInputFiles("#photo", fixture("obama2.jpg"));
    await page.waitForSelector("#preview:not([hidden])");
    await page.check("#share-location");
    await page.waitForFunction(() => document.getElementById("lat").value !== "");
    await page.selectOption('select[name="apparent_age"]', "8-11");
    await page.selectOption('select[name="sex"]', "male");
    await page.fill('input[name="place"]', "Gare de Lyon, platform 3");
    await page.fill('textarea[name="note"]', "With an adult, red backpack");
    await page.screenshot({ path: join(root, "docs", "screenshot-submit.png"), fullPage: true });
    await Promise.all([page.waitForSelector("#receipt", { timeout: 120000 }), page.click("#send")]);
    receipt = (await page.textContent("#receipt")).trim();
    assert.match(receipt, /^HW-[0-9A-F]{12}$/);
    await page.screenshot({ path: join(root, "docs", "screenshot-receipt.png"), fullPage: true });
    // The volunteer cannot open the queue (the browser logs that 403; it is expected).
    const before = problems.length;
    const res = await page.goto(BASE + "/review");
    assert.equal(res.status(), 403);
    problems.splice(before);
    await page.goto(BASE + "/submit");
    await Promise.all([page.waitForURL("**/login"), page.click("text=Sign out")]);
  });

  await step("case worker sees it in the queue beside the right case and confirms it", async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await signIn(page, "worker1", PASSWORD);
    assert.equal(new URL(page.url()).pathname, "/review");
    const items = page.locator("li.queue-item");
    assert.ok((await items.count()) >= 1, "queue is empty");
    const first = items.first();
    const text = await first.textContent();
    assert.ok(text.includes(`case ${cases["Barack Example"]}`) && text.includes("Barack Example"), text);
    await Promise.all([page.waitForURL("**/review/*"), first.locator("a").click()]);
    // The sighting photo and the case photos are shown and loaded.
    await page.waitForFunction(() =>
      [...document.querySelectorAll("img")].every((i) => i.complete && i.naturalWidth > 0)
    );
    const imgs = await page.locator("section.sighting img, section.case img").count();
    assert.ok(imgs >= 2, `images: ${imgs}`);
    assert.ok(/^(Strong|Possible|Weak): /.test((await page.textContent("#evidence-text")).trim()));
    assert.ok((await page.textContent("#numbers")).includes("est. false-match"));
    assert.ok((await page.textContent("section.sighting")).includes("Gare de Lyon"));
    await page.fill('textarea[name="note"]', "Same child: checked with the family photo");
    await page.screenshot({ path: join(root, "docs", "screenshot-review.png"), fullPage: true });
    await Promise.all([page.waitForSelector("#decision"), page.click("button.confirm")]);
    const decided = await page.textContent("#decision");
    assert.ok(decided.includes("confirmed") && decided.includes("worker1"), decided);
  });

  await step("no CSP violation or script error on any page", async () => {
    assert.deepEqual(problems, []);
  });
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
  console.log(`${passed} passed, ${failed} failed`);
}
process.exit(failed ? 1 : 0);
