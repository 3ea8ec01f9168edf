// Headless Chromium test of the volunteer flow in both languages (issue 15),
// against a running `homeward serve` at HOMEWARD_URL (run.sh starts one).
//
// For zh-CN and en, on a phone-sized window (390×844): the browser's
// language picks the pages' language; the volunteer picks a photo from the
// gallery (the input without `capture`), the "when seen" field is filled
// from the photo's EXIF DateTimeOriginal (zh) or typed (en), the photo is
// shrunk to JPEG in the browser, the location is sent only when the box is
// ticked, and the receipt is in the page's language. A photo without a face
// gets a receipt that says so. The language switch flips the page.
// Screenshots (phone and desktop, both languages) go to docs/screenshots/.
import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
const shots = join(root, "docs", "screenshots");
mkdirSync(shots, { recursive: true });
const work = mkdtempSync(join(tmpdir(), "homeward-volunteer-"));

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

async function api(method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return { res, json: text ? JSON.parse(text) : null };
}

async function adminToken() {
  const login = await api("POST", "/api/session", { body: { username: ADMIN, password: ADMIN_PASSWORD } });
  const cookie = login.res.headers.get("set-cookie").split(";")[0];
  const tok = await fetch(BASE + "/api/tokens", {
    method: "POST",
    headers: { cookie, "x-csrf-token": login.json.csrf_token, "content-type": "application/json" },
    body: JSON.stringify({ user_id: login.json.id, name: "volunteer browser test" }),
  });
  assert.equal(tok.status, 201);
  return (await tok.json()).token;
}

// A copy of a JPEG with an EXIF block holding DateTimeOriginal and GPS,
// as a phone writes it: the browser must read the date and send neither.
function jpegWithExif(src, taken) {
  const le = (n, bytes) => {
    const b = Buffer.alloc(bytes);
    if (bytes === 2) b.writeUInt16LE(n);
    else b.writeUInt32LE(n);
    return b;
  };
  const entry = (tag, type, count, value) => Buffer.concat([le(tag, 2), le(type, 2), le(count, 4), le(value, 4)]);
  // IFD0 at 8 (2 entries: 8+2+24+4 = 38), EXIF IFD at 38 (1 entry: 38+18 = 56),
  // GPS IFD at 56 (2 entries: 56+30 = 86), date string at 86, rationals at 106.
  const tiff = Buffer.concat([
    Buffer.from("II*\0", "latin1"), le(8, 4),
    le(2, 2), entry(0x8769, 4, 1, 38), entry(0x8825, 4, 1, 56), le(0, 4),
    le(1, 2), entry(0x9003, 2, 20, 86), le(0, 4),
    le(2, 2), entry(0x0001, 2, 2, Buffer.from("N\0\0\0", "latin1").readUInt32LE()), entry(0x0002, 5, 3, 106), le(0, 4),
    Buffer.from(taken + "\0", "latin1"),
    le(31, 4), le(1, 4), le(14, 4), le(1, 4), le(0, 4), le(1, 4),
  ]);
  assert.equal(tiff.indexOf(Buffer.from(taken, "latin1")), 86);
  const body = Buffer.concat([Buffer.from("Exif\0\0", "latin1"), tiff]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.length + 2);
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1]), len, body]);
  return Buffer.concat([src.subarray(0, 2), app1, src.subarray(2)]);
}

async function signIn(page, user, password) {
  await page.goto(BASE + "/login");
  await page.fill('input[name="username"]', user);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/login")), page.click('button[type="submit"]')]);
}

async function newest(admin) {
  const all = (await api("GET", "/api/sightings", { token: admin })).json;
  return all.reduce((a, b) => (a.id > b.id ? a : b));
}

const LANGS = {
  "zh-CN": {
    user: "xiaohong",
    title: "报告线索",
    receipt: "报告已收到",
    noFace: "照片中没有找到人脸",
    other: "English",
    otherLang: "en",
    exifTaken: "2025:06:01 10:30:00",
    seen: "2025-06-01T10:30", // from the photo's EXIF
    seenUtc: "2025-06-01T02:30:00Z",
    shareLocation: false,
    place: "北京西站南广场",
    note: "和一位成年男子在一起，背红色书包",
  },
  en: {
    user: "volunteer-en",
    title: "Report a sighting",
    receipt: "Report received",
    noFace: "No face could be found in the photo",
    other: "中文",
    otherLang: "zh-CN",
    exifTaken: null,
    seen: "2025-07-15T16:45", // typed by the volunteer
    seenUtc: "2025-07-15T08:45:00Z",
    shareLocation: true,
    place: "Wangfujing, by the bookshop",
    note: "With an adult, red backpack",
  },
};

const profile = mkdtempSync(join(tmpdir(), "homeward-chromium-"));
let browser;
try {
  const admin = await adminToken();
  for (const [lang, L] of Object.entries(LANGS)) {
    await api("POST", "/api/users", { token: admin, body: { username: L.user, password: PASSWORD, role: "volunteer" } });
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const problems = [];

  for (const [lang, L] of Object.entries(LANGS)) {
    const context = await browser.newContext({
      locale: lang,
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 1,
      isMobile: true,
      hasTouch: true,
      geolocation: { latitude: 39.8946, longitude: 116.322 },
      permissions: ["geolocation"],
    });
    const page = await context.newPage();
    page.on("console", (m) => { if (m.type() === "error") problems.push(`${lang}: ${m.text()}`); });
    page.on("pageerror", (e) => problems.push(`${lang}: ${e}`));

    await step(`${lang}: the browser's language picks the pages' language`, async () => {
      await page.goto(BASE + "/login");
      assert.equal(await page.getAttribute("html", "lang"), lang);
      await page.screenshot({ path: join(shots, `login-${lang}-phone.png`), fullPage: true });
      await signIn(page, L.user, PASSWORD);
      assert.equal(new URL(page.url()).pathname, "/submit");
      assert.equal(await page.getAttribute("html", "lang"), lang);
      assert.equal((await page.textContent("h1")).trim(), L.title);
      await page.screenshot({ path: join(shots, `submit-${lang}-phone.png`), fullPage: true });
    });

    await step(`${lang}: the switch changes the language and comes back`, async () => {
      await Promise.all([page.waitForURL("**/submit"), page.click(`#lang-switch a[lang="${L.otherLang}"]`)]);
      assert.equal(await page.getAttribute("html", "lang"), L.otherLang);
      await Promise.all([page.waitForURL("**/submit"), page.click(`#lang-switch a[lang="${lang}"]`)]);
      assert.equal(await page.getAttribute("html", "lang"), lang);
    });

    await step(`${lang}: a volunteer submits a gallery photo with a "when seen" time from a phone`, async () => {
      let photo = fixture(lang === "en" ? "obama3.jpg" : "obama2.jpg");
      if (L.exifTaken) {
        photo = join(work, "from-gallery.jpg");
        writeFileSync(photo, jpegWithExif(readFileSync(fixture("obama2.jpg")), L.exifTaken));
      }
      // The gallery input: no `capture`, so a saved photo can be picked.
      assert.equal(await page.getAttribute("#photo", "capture"), null);
      assert.equal(await page.getAttribute("#photo-camera", "capture"), "environment");
      await page.setInputFiles("#photo", photo);
      await page.waitForSelector("#preview:not([hidden])");
      await page.waitForSelector("#send:not([disabled])");
      // Shrunk in the browser: a fresh JPEG without the original's EXIF.
      const sent = await page.evaluate(async () => {
        const f = document.getElementById("photo").files[0];
        const head = new Uint8Array(await f.slice(0, 65536).arrayBuffer());
        const text = String.fromCharCode(...head);
        return { type: f.type, name: f.name, exif: text.includes("Exif\0\0"), ready: document.getElementById("submit-form").dataset.photoReady };
      });
      assert.deepEqual(sent, { type: "image/jpeg", name: "photo.jpg", exif: false, ready: "shrunk" });
      if (L.exifTaken) {
        assert.equal(await page.inputValue("#seen-at"), L.seen, "when seen from EXIF");
      } else {
        await page.fill("#seen-at", L.seen);
      }
      if (L.shareLocation) {
        await page.check("#share-location");
        await page.waitForFunction(() => document.getElementById("lat").value !== "");
      }
      await page.selectOption('select[name="apparent_age"]', "8-11");
      await page.selectOption('select[name="sex"]', "male");
      await page.fill('input[name="place"]', L.place);
      await page.fill('textarea[name="note"]', L.note);
      await page.screenshot({ path: join(shots, `submit-filled-${lang}-phone.png`), fullPage: true });
      await Promise.all([page.waitForSelector("#receipt", { timeout: 120000 }), page.click("#send")]);
      assert.equal((await page.textContent("h1")).trim(), L.receipt);
      assert.match((await page.textContent("#receipt")).trim(), /^HW-[0-9A-F]{12}$/);
      await page.screenshot({ path: join(shots, `receipt-${lang}-phone.png`), fullPage: true });
      const s = await newest(admin);
      assert.equal(s.seen_at, L.seenUtc);
      assert.equal(s.place, L.place);
      if (L.shareLocation) assert.ok(s.location && Math.abs(s.location[0] - 39.8946) < 1e-4, JSON.stringify(s));
      else assert.equal(s.location, null);
      // The stored photo carries no EXIF.
      const stored = Buffer.from(await (await fetch(BASE + s.photo_url, { headers: { authorization: `Bearer ${admin}` } })).arrayBuffer());
      assert.equal(stored.indexOf(Buffer.from("Exif\0\0", "latin1")), -1);
    });

    await step(`${lang}: desktop pages, and a photo without a face is kept`, async () => {
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.goto(BASE + "/submit");
      await page.screenshot({ path: join(shots, `submit-${lang}-desktop.png`), fullPage: true });
      await page.setInputFiles("#photo", fixture("noface/brick.jpg"));
      await page.waitForSelector("#preview:not([hidden])");
      await page.waitForSelector("#send:not([disabled])");
      await Promise.all([page.waitForSelector("#receipt", { timeout: 120000 }), page.click("#send")]);
      assert.ok((await page.textContent("#no-face")).includes(L.noFace));
      await page.screenshot({ path: join(shots, `receipt-no-face-${lang}-desktop.png`), fullPage: true });
      const s = await newest(admin);
      assert.equal(s.faces, 0);
    });
    await context.close();
  }

  await step("no CSP violation or script error on any page", async () => {
    assert.deepEqual(problems, []);
  });
} finally {
  if (browser) await browser.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
  console.log(`${passed} passed, ${failed} failed`);
}
process.exit(failed ? 1 : 0);
