// Drives Herald's web console in headless Chromium, as an operator would:
// run by crates/herald/tests/console.rs, which starts the server and the
// users. Exits non-zero (with the reason) on the first check that fails.
//
// Environment: HERALD_URL, ALICE_KEY, ALICE_SECRET, BOB_KEY, BOB_SECRET;
// SCREENSHOTS (optional): a directory for one PNG per page (docs/console.md).

import http from "node:http";
import { chromium } from "playwright-core";

const url = process.env.HERALD_URL;
const alice = { key: process.env.ALICE_KEY, secret: process.env.ALICE_SECRET };
const bob = { key: process.env.BOB_KEY, secret: process.env.BOB_SECRET };
const shots = process.env.SCREENSHOTS || "";
const T = 20_000;

function check(cond, what) {
  if (!cond) throw new Error("check failed: " + what);
  console.log("ok -", what);
}

// ---- a webhook receiver for the topic ---------------------------------
const received = [];
const receiver = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => { body += c; });
  req.on("end", () => {
    received.push({ body, replay: req.headers["x-herald-replay"] === "true" });
    res.writeHead(200).end();
  });
});
await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
const hook = `http://127.0.0.1:${receiver.address().port}/events`;

async function until(what, fn, ms = T) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return console.log("ok -", what);
    if (Date.now() > end) throw new Error("timed out: " + what);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});

async function shot(page, name) {
  if (!shots) return;
  await page.waitForSelector("#toast:not(.show)", { state: "attached" });
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

async function signIn(page, who) {
  await page.goto(url + "/console/");
  await page.fill("input[name=accessKey]", who.key);
  await page.fill("input[name=secretKey]", who.secret);
  await page.click("#sign-in button[type=submit]");
  await page.waitForSelector("#nav:not([hidden])", { timeout: T });
}

async function expectNoError(page, scope = "#page") {
  const errors = await page.$$eval(`${scope} .error`, (els) => els.map((e) => e.textContent).filter(Boolean));
  check(errors.length === 0, `no error shown (${errors.join("; ")})`);
}

try {
  // ---- alice signs in -------------------------------------------------
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(url + "/console/");
  await page.waitForSelector("#sign-in:not([hidden])");
  await shot(page, "sign-in");
  await page.fill("input[name=accessKey]", alice.key);
  await page.fill("input[name=secretKey]", "wrong-secret");
  await page.click("#sign-in button[type=submit]");
  await page.waitForSelector("#sign-in-error:not(:empty)");
  check((await page.textContent("#sign-in-error")).includes("InvalidClientTokenId"), "a wrong secret is refused");
  await signIn(page, alice);
  check((await page.textContent("#who-name")) === "alice", "signed in as alice");
  const cookies = await ctx.cookies();
  const sess = cookies.find((c) => c.name === "herald_console");
  check(sess && sess.httpOnly && sess.sameSite === "Strict", "session cookie is HttpOnly and SameSite=Strict");

  // ---- a bucket -------------------------------------------------------
  await page.goto(url + "/console/#/buckets");
  await page.fill("input[name=bucket]", "console-photos");
  await page.click("#page form button[type=submit]");
  await page.waitForSelector("a:text('console-photos')");
  await expectNoError(page);
  await shot(page, "buckets");

  // ---- a topic with a webhook, persistent, retained for replay --------
  await page.goto(url + "/console/#/topics");
  await page.waitForSelector("input[name=name]");
  await page.fill("input[name=name]", "uploads");
  await page.fill("input[name=push-endpoint]", hook);
  await page.fill("textarea[name=extra]", "retention=3600");
  await page.click("#page form.card button[type=submit]");
  await page.waitForSelector("#topics a:text('uploads')", { timeout: T });
  await expectNoError(page);

  // ---- the bucket's notification, from the rule form ------------------
  await page.goto(url + "/console/#/bucket/console-photos/");
  await page.waitForSelector("#notification-editor select[name=topic] option", { state: "attached" });
  // A document that does not parse is refused, with the API's error shown.
  await page.fill("#notification-editor textarea", "<NotificationConfiguration><TopicConfiguration>");
  await page.click("#notification-editor button:text('Save')");
  await page.waitForSelector("#notification-editor .error:not(:empty)");
  check((await page.textContent("#notification-editor .error:not(:empty)")).length > 0, "a broken notification document is refused inline");
  await page.fill("#notification-editor textarea", "");
  await page.selectOption("#notification-editor select[name=topic]", { label: "uploads" });
  await page.click("#notification-editor button:text('Add rule to the document')");
  const doc = await page.inputValue("#notification-editor textarea");
  check(doc.includes("<Topic>arn:aws:sns:") && doc.includes("s3:ObjectCreated:*"), "the rule form writes a TopicConfiguration");
  await page.click("#notification-editor button:text('Save')");
  await page.waitForSelector("#toast.show:text('Event notifications saved')");
  await expectNoError(page, "#notification-editor");

  // ---- a lifecycle rule, and a wrong one refused inline ------------------
  await page.fill("#lifecycle-editor textarea", "<LifecycleConfiguration><Rule><Status>Sometimes</Status></Rule></LifecycleConfiguration>");
  await page.click("#lifecycle-editor button:text('Save')");
  await page.waitForSelector("#lifecycle-editor .error:not(:empty)");
  await page.fill("#lifecycle-editor textarea", "<LifecycleConfiguration><Rule><ID>tmp</ID><Filter><Prefix>tmp/</Prefix></Filter>" +
    "<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>");
  await page.click("#lifecycle-editor button:text('Save')");
  await page.waitForSelector("#toast.show:text('Lifecycle rules saved')");
  await expectNoError(page, "#lifecycle-editor");

  // ---- the rule form never replaces a document that does not parse -------
  await page.fill("#notification-editor textarea", "<NotificationConfiguration><TopicConfiguration>");
  await page.click("#notification-editor button:text('Add rule to the document')");
  await page.waitForSelector("#notification-editor .error:text('fix it')");
  check((await page.inputValue("#notification-editor textarea")) === "<NotificationConfiguration><TopicConfiguration>",
    "a broken document is kept, not replaced by the rule");
  // Two rules in a row get two Ids (the second must not clash).
  await page.fill("#notification-editor textarea", "");
  await page.selectOption("#notification-editor select[name=topic]", { label: "uploads" });
  await page.click("#notification-editor button:text('Add rule to the document')");
  await page.click("#notification-editor button:text('Add rule to the document')");
  const twoRules = await page.inputValue("#notification-editor textarea");
  const ids = [...twoRules.matchAll(/<Id>([^<]+)<\/Id>/g)].map((m) => m[1]);
  check(ids.length === 2 && ids[0] !== ids[1], `two rules, two Ids (${ids.join(", ")})`);
  await page.reload();
  await page.waitForSelector("#notification-editor textarea");

  // ---- an upload that fails says so --------------------------------------
  await page.setInputFiles("input[name=file]", [
    { name: "k".repeat(1100), mimeType: "text/plain", buffer: Buffer.from("x") },
    { name: "fine.txt", mimeType: "text/plain", buffer: Buffer.from("x") },
  ]);
  await page.click("#page form.row button:text('Upload')");
  await page.waitForSelector("#objects td:text('fine.txt')", { timeout: T });
  await page.waitForSelector("#page form.row .error:not(:empty)");
  check((await page.textContent("#page form.row .error")).includes("kkkk"), "the failed upload is listed by name");

  // ---- more than a page of objects -----------------------------------------
  await page.evaluate(async () => {
    const { session } = await import("/console/aws.js");
    const put = (i) => fetch("/console/api/s3/console-photos?herald-key=" + encodeURIComponent(`many/obj-${String(i).padStart(3, "0")}`),
      { method: "PUT", body: "x", headers: { "x-herald-csrf": session.csrf } });
    for (let i = 0; i < 205; i += 41) await Promise.all(Array.from({ length: 41 }, (_, j) => put(i + j)));
  });
  await page.goto(url + "/console/#/bucket/console-photos/many%2F");
  await page.waitForSelector("#objects td:text('obj-000')");
  check((await page.$$("#objects tbody tr")).length === 200, "the first page holds 200 entries");
  await page.click("#next-page");
  await page.waitForSelector("#objects td:text('obj-204')");
  check((await page.$$("#objects tbody tr")).length === 5, "the next page holds the other 5");
  await page.click("button:text('Previous page')");
  await page.waitForSelector("#objects td:text('obj-000')");

  // ---- a versioned bucket: every version, and deleting them for good ------
  await page.evaluate(async () => {
    const { session } = await import("/console/aws.js");
    const h = { "x-herald-csrf": session.csrf };
    await fetch("/console/api/s3/console-versions", { method: "PUT", headers: h });
    await fetch("/console/api/s3/console-versions?versioning", { method: "PUT", headers: h,
      body: '<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>' });
    for (const body of ["one", "two"]) {
      await fetch("/console/api/s3/console-versions?herald-key=notes.txt", { method: "PUT", headers: h, body });
    }
    await fetch("/console/api/s3/console-versions?herald-key=notes.txt", { method: "DELETE", headers: h });
  });
  await page.goto(url + "/console/#/bucket/console-versions/");
  await page.waitForSelector("#page p.muted:text('Nothing here yet.')");
  await page.check("#show-versions");
  await page.waitForSelector("#objects td:text('delete marker')");
  check((await page.$$("#objects tbody tr")).length === 3, "two versions and a delete marker listed");
  const firstVersion = await page.$eval("#objects tbody tr:last-child a", (a) => a.getAttribute("href"));
  const older = await page.evaluate(async (href) => (await fetch(href)).text(), firstVersion);
  check(older === "one", "an older version downloads as itself");
  for (let i = 0; i < 3; i++) {
    page.once("dialog", (d) => d.accept());
    await page.click("#objects tbody tr:first-child button:text('Delete')");
    await page.waitForFunction((n) => document.querySelectorAll("#objects tbody tr").length === n
      || (n === 0 && document.querySelector("#page p.muted")?.textContent === "Nothing here yet."), 2 - i);
  }
  await page.goto(url + "/console/#/buckets");
  page.once("dialog", (d) => d.accept());
  await page.locator("tr", { has: page.locator("a:text('console-versions')") }).locator("button:text('Delete')").click();
  await page.waitForSelector("#toast.show:text('Bucket deleted')");
  check(true, "every version deleted for good, then the bucket");

  // ---- leaving a page while it loads: nothing of it stays ---------------
  let polls = 0;
  await page.route("**/console/api/sns", async (r) => {
    if ((r.request().postData() || "").includes("GetTopicAttributes")) polls++;
    await new Promise((res) => setTimeout(res, 400));
    await r.continue();
  });
  // A topic's page polls its attributes every 5 s once loaded.
  const uploadsArn = doc.match(/<Topic>([^<]+)<\/Topic>/)[1];
  await page.goto(url + "/console/#/topic/" + encodeURIComponent(uploadsArn));
  await page.evaluate(() => { location.hash = "#/overview"; });
  await page.evaluate(() => { location.hash = "#/buckets"; });
  await page.waitForSelector("#page h1:text('Buckets')");
  await new Promise((res) => setTimeout(res, 1500));
  const heading = await page.textContent("#page h1");
  const before = polls;
  await new Promise((res) => setTimeout(res, 6000));
  check(heading === "Buckets" && (await page.textContent("#page h1")) === "Buckets" && polls === before,
    `a page left while loading neither draws nor polls (${heading}, ${polls - before} polls after)`);
  await page.unroute("**/console/api/sns");
  await page.goto(url + "/console/#/bucket/console-photos/");
  await page.waitForSelector("input[name=file]");

  // ---- the live view, in a second tab ---------------------------------
  const live = await ctx.newPage();
  await live.goto(url + "/console/#/live");
  await live.waitForSelector("#live-status:text('watching')", { timeout: T });

  // ---- upload an object ------------------------------------------------
  await page.setInputFiles("input[name=file]", { name: "cat.jpg", mimeType: "image/jpeg", buffer: Buffer.from("meow") });
  await page.click("#page form.row button:text('Upload')");
  await page.waitForSelector("#objects td:text('cat.jpg')", { timeout: T });
  await shot(page, "bucket");
  await live.waitForSelector("#live-rows td:text('cat.jpg')", { timeout: T });
  check((await live.textContent("#live-rows")).includes("ObjectCreated:Put"), "the live view shows the upload's event");
  // Pausing holds new events back until resumed.
  await live.click("#pause");
  await page.setInputFiles("input[name=file]", { name: "dog.jpg", mimeType: "image/jpeg", buffer: Buffer.from("woof") });
  await page.click("#page form.row button:text('Upload')");
  await live.waitForSelector("#live-status:text('paused, 1 waiting')", { timeout: T });
  check(!(await live.textContent("#live-rows")).includes("dog.jpg"), "a paused live view holds events back");
  await live.click("#pause");
  await live.waitForSelector("#live-rows td:text('dog.jpg')", { timeout: T });
  await shot(live, "live");
  // The filters: a prefix, then an event type, each a new view that shows
  // only what matches.
  const upload = async (name) => {
    await page.setInputFiles("input[name=file]", { name, mimeType: "image/jpeg", buffer: Buffer.from(name) });
    await page.click("#page form.row button:text('Upload')");
    await page.waitForSelector(`#objects td:text('${name}')`, { timeout: T });
  };
  await live.fill("input[name=prefix]", "cat");
  await live.dispatchEvent("input[name=prefix]", "change");
  await live.waitForSelector("#live-status:text('watching')", { timeout: T });
  await upload("bird.jpg");
  await upload("catnip.jpg");
  await live.waitForSelector("#live-rows td:text('catnip.jpg')", { timeout: T });
  let shown = await live.textContent("#live-rows");
  check(!shown.includes("bird.jpg") && !shown.includes("dog.jpg"), "a prefix filter shows only matching keys");
  await live.fill("input[name=prefix]", "");
  await live.dispatchEvent("input[name=prefix]", "change");
  await live.selectOption("select[name=event]", "s3:ObjectRemoved:*");
  await live.waitForSelector("#live-status:text('watching')", { timeout: T });
  await upload("fish.jpg");
  page.once("dialog", (d) => d.accept());
  await page.locator("#objects tbody tr", { has: page.locator("td:first-child", { hasText: /^bird\.jpg$/ }) })
    .locator("button:text('Delete')").click();
  await live.waitForSelector("#live-rows td:text('bird.jpg')", { timeout: T });
  shown = await live.textContent("#live-rows");
  check(shown.includes("ObjectRemoved") && !shown.includes("fish.jpg") && !shown.includes("ObjectCreated"),
    "an event-type filter shows only removals");
  await live.selectOption("select[name=event]", "");
  await live.selectOption("select[name=bucket]", "");
  await live.waitForSelector("#live-status:text('watching')", { timeout: T });
  await upload("cow.jpg");
  await live.waitForSelector("#live-rows td:text('cow.jpg')", { timeout: T });
  await live.close();

  // ---- an object's details, and its tags edited ------------------------
  await page.goto(url + "/console/#/bucket/console-photos/");
  const catRow = page.locator("#objects tbody tr", { has: page.locator("td:first-child", { hasText: /^cat\.jpg$/ }) });
  await catRow.locator("button:text('Details')").click();
  await page.waitForSelector("#object-details td:text('content-type')");
  check((await page.textContent("#object-details")).includes("image/jpeg"), "an object's headers shown");
  await page.fill("#object-details textarea[name=tags]", "color=black\nmood=sleepy");
  await page.click("#object-details button:text('Save tags')");
  await page.waitForSelector("#toast.show:text('Tags saved')");
  const tagged = await page.evaluate(async () => {
    const { s3 } = await import("/console/aws.js");
    return (await s3.tags("console-photos", "cat.jpg")).map(([k, v]) => `${k}=${v}`).sort().join(",");
  });
  check(tagged === "color=black,mood=sleepy", `tags saved (${tagged})`);

  // Keys XML cannot carry (a control character, a carriage return) list
  // and delete as themselves.
  for (const key of ["odd\u0001key", "report\r.csv", "report\n.csv"]) {
    const st = await page.evaluate(async (key) => {
      const { session } = await import("/console/aws.js");
      return (await fetch("/console/api/s3/console-photos?herald-key=" + encodeURIComponent(key),
        { method: "PUT", body: "x", headers: { "x-herald-csrf": session.csrf } })).status;
    }, key);
    check(st === 200, `uploaded a key with a control character (${JSON.stringify(key)})`);
  }
  await page.reload();
  await page.waitForSelector("#objects td:text('cat.jpg')");
  await expectNoError(page);
  const keys = await page.$$eval("#objects tbody tr td:first-child", (tds) => tds.map((td) => td.textContent));
  check(keys.includes("odd\u0001key") && keys.includes("report\r.csv") && keys.includes("report\n.csv"),
    "the listing shows them as they are");
  page.once("dialog", (d) => d.accept());
  const lookAlike = page.locator("#objects tbody tr").filter({ has: page.locator("td:first-child", { hasText: /^report\r\.csv$/ }) });
  await lookAlike.locator("button:text('Delete')").click();
  await page.waitForSelector("#toast.show:text('Deleted')");
  await page.waitForFunction(() => Array.from(document.querySelectorAll("#objects tbody tr td:first-child"))
    .every((td) => td.textContent !== "report\r.csv"));
  const left = await page.$$eval("#objects tbody tr td:first-child", (tds) => tds.map((td) => td.textContent));
  check(left.includes("report\n.csv"), "deleting one key left its look-alike in place");

  await until("the webhook received both events", () => received.filter((r) => !r.replay).length >= 2);

  // ---- the topic's counters move ---------------------------------------
  await page.goto(url + "/console/#/topics");
  await page.waitForSelector("#topics a:text('uploads')");
  const row = await page.$$eval("#topics tbody tr", (trs) => trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)));
  const uploads = row.find((r) => r[0] === "uploads");
  check(uploads && Number(uploads[6]) >= 2 && Number(uploads[7]) >= 2, `topic counters moved (in ${uploads[6]}, pushed ${uploads[7]})`);
  await shot(page, "topics");
  await page.goto(url + "/console/#/overview");
  await until("the overview counts the events", async () =>
    Number(((await page.textContent("#events-in .value").catch(() => "0")) || "0").replace(/,/g, "")) >= 2);
  await page.waitForSelector("#busiest-chart svg.bars text:text('uploads')", { timeout: T });
  check(await page.$("#pending-chart svg.chart") !== null, "the overview charts pending events");
  await shot(page, "overview");

  // ---- replay, and a test event ----------------------------------------
  await page.click("a:text('uploads')");
  await page.waitForSelector("#topic-attributes td:text('EventsTriggered')");
  await page.fill("input[name=since]", "1h");
  await page.click("button:text('Replay')");
  await page.waitForSelector("#topic-output:not([hidden])");
  check((await page.textContent("#topic-output")).includes("\"estimated\""), "replay started");
  await until("the replayed events arrived, marked", () => received.filter((r) => r.replay).length >= 2);
  await page.click("button:text('Send test event')");
  await page.waitForSelector("#topic-output:text('delivered')", { timeout: T });
  await until("the test event arrived", () => received.some((r) => r.body.includes("s3:TestEvent")));
  await page.click("button:text('Show queued events')");
  await page.waitForSelector("#topic-output:text('persistent')");
  await shot(page, "topic");
  // Change an attribute from the form; a wrong value is refused inline.
  await page.fill("input[name=attribute]", "max_retries");
  await page.fill("input[name=value]", "lots");
  await page.click("button:text('Set')");
  await page.waitForSelector("#page > .error:not(:empty)");
  await page.fill("input[name=value]", "5");
  await page.click("button:text('Set')");
  await page.waitForFunction(() => Array.from(document.querySelectorAll("#topic-attributes tr"))
    .some((tr) => tr.children[0].textContent === "MaxRetries" && tr.children[1].textContent === "5"));
  check(true, "a topic attribute changed from the form");
  // Delete a scratch topic from its page.
  const scratch = await page.evaluate(async () => {
    const { topics } = await import("/console/aws.js");
    return topics.create("scratch", {});
  });
  await page.goto(url + "/console/#/topic/" + encodeURIComponent(scratch));
  await page.waitForSelector("#topic-attributes td:text('TopicArn')");
  page.once("dialog", (d) => d.accept());
  await page.click("button:text('Delete topic')");
  await page.waitForSelector("#topics a:text('uploads')");
  check(!(await page.textContent("#topics")).includes("scratch"), "a topic deleted from its page");

  // ---- a queue -----------------------------------------------------------
  await page.goto(url + "/console/#/queues");
  await page.fill("input[name=queue]", "console-jobs.fifo");
  await page.click("#page form button[type=submit]");
  await page.waitForSelector("#queues a:text('console-jobs.fifo')");
  check(true, "a FIFO queue created from its name");
  await page.fill("input[name=queue]", "console-jobs");
  await page.click("#page form button[type=submit]");
  await page.waitForSelector("#queues a:text-is('console-jobs')");
  const sent = await page.evaluate(async () => {
    const { session } = await import("/console/aws.js");
    const r = await fetch("/console/api/sqs", { method: "POST", headers: {
      "x-herald-csrf": session.csrf, "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS.SendMessage" },
    body: JSON.stringify({ QueueUrl: "console-jobs", MessageBody: "job-1" }) });
    return r.status;
  });
  check(sent === 200, "a message sent through the console's SQS proxy");
  await page.click("#queues a:text-is('console-jobs')");
  await page.click("button:text('Peek messages')");
  await page.waitForSelector("#queue-output:text('job-1')", { timeout: T });
  await page.click("button:text('Peek messages')");
  await page.waitForSelector("#queue-output:text('\"ApproximateReceiveCount\": \"0\"')", { timeout: T });
  check(true, "peeking does not receive the message");
  // The list's depth columns: one visible, one received (in flight), one
  // delayed.
  const depth = await page.evaluate(async () => {
    const { session } = await import("/console/aws.js");
    const sqs = async (target, body) => (await fetch("/console/api/sqs", { method: "POST", headers: {
      "x-herald-csrf": session.csrf, "content-type": "application/x-amz-json-1.0", "x-amz-target": "AmazonSQS." + target },
    body: JSON.stringify({ QueueUrl: "console-jobs", ...body }) })).json();
    await sqs("SendMessage", { MessageBody: "job-2" });
    const got = await sqs("ReceiveMessage", { MaxNumberOfMessages: 1, VisibilityTimeout: 600 });
    await sqs("SendMessage", { MessageBody: "job-3", DelaySeconds: 900 });
    return (got.Messages || []).length;
  });
  check(depth === 1, "one message received through the proxy");
  await page.goto(url + "/console/#/queues");
  await page.waitForSelector("#queues a:text-is('console-jobs')");
  const jobsRow = (await page.$$eval("#queues tbody tr", (trs) => trs.map((tr) =>
    Array.from(tr.children).map((td) => td.textContent)))).find((r) => r[0] === "console-jobs");
  check(jobsRow && jobsRow[1] === "1" && jobsRow[2] === "1" && jobsRow[3] === "1",
    `queue depth shown: visible ${jobsRow && jobsRow[1]}, in flight ${jobsRow && jobsRow[2]}, delayed ${jobsRow && jobsRow[3]}`);
  await page.click("#queues a:text-is('console-jobs')");
  await page.waitForSelector("button:text('Peek messages')");
  await shot(page, "queue");
  // Dead-letter wiring to a second queue, then purge.
  const dlq = await page.evaluate(async () => {
    const { queues } = await import("/console/aws.js");
    await queues.create("console-jobs-dlq");
    return (await queues.attributes("console-jobs-dlq")).QueueArn;
  });
  await page.reload();
  await page.waitForSelector("select[name=dead-letter-queue] option[value*='console-jobs-dlq']", { state: "attached" });
  await page.selectOption("select[name=dead-letter-queue]", dlq);
  await page.fill("input[name=max-receive]", "3");
  await page.click("button:text('Save')");
  await page.waitForSelector("td:text('RedrivePolicy')");
  const redrive = await page.evaluate(async () => {
    const { queues } = await import("/console/aws.js");
    return JSON.parse((await queues.attributes("console-jobs")).RedrivePolicy || "{}");
  });
  check(redrive.deadLetterTargetArn === dlq && redrive.maxReceiveCount === 3, "dead-letter queue wired from the form");
  page.once("dialog", (d) => d.accept());
  await page.click("button:text('Purge')");
  await page.waitForSelector("#toast.show:text('Purged')");
  await page.click("button:text('Peek messages')");
  await page.waitForSelector("#queue-output:text('\"messages\": []')", { timeout: T });
  check(true, "purged: peek shows no message");
  await page.goto(url + "/console/#/queues");
  await page.waitForSelector("#queues a:text-is('console-jobs')");
  await shot(page, "queues");

  // ---- a queue as a notification destination ----------------------------
  await page.goto(url + "/console/#/bucket/console-photos/");
  await page.waitForSelector("#notification-editor select[name=topic] option", { state: "attached" });
  await page.selectOption("#notification-editor select[name=topic]", { label: "queue: console-jobs" });
  await page.click("#notification-editor button:text('Add rule to the document')");
  const withQueue = await page.inputValue("#notification-editor textarea");
  check(withQueue.includes("<Queue>arn:aws:sqs:") && withQueue.includes("<Topic>arn:aws:sns:"),
    "the rule form adds a QueueConfiguration beside the topic's");
  await page.click("#notification-editor button:text('Save')");
  await page.waitForSelector("#toast.show:text('Event notifications saved')");
  await page.setInputFiles("input[name=file]", { name: "queued.txt", mimeType: "text/plain", buffer: Buffer.from("q") });
  await page.click("#page form.row button:text('Upload')");
  await page.waitForSelector("#objects td:text('queued.txt')", { timeout: T });
  await page.goto(url + "/console/#/queue/" + encodeURIComponent("http://x/alice/console-jobs"));
  await until("the upload's event is in the queue", async () => {
    await page.click("button:text('Peek messages')");
    return (await page.textContent("#queue-output")).includes("queued.txt");
  });

  // ---- no CSRF token, or another origin: refused ----------------------
  const noToken = await page.evaluate(async () => (await fetch("/console/api/overview")).status);
  check(noToken === 403, "an API call without the CSRF token is refused");
  const objectUrl = `${url}/console/api/s3/console-photos?herald-key=cat.jpg`;
  const crossSite = await fetch(objectUrl, { headers: { cookie: `herald_console=${sess.value}`, origin: "http://evil.example" } });
  check(crossSite.status === 403, "a request from another origin is refused");
  const sameSite = await fetch(objectUrl, { headers: { cookie: `herald_console=${sess.value}` } });
  check(sameSite.status === 200 && (sameSite.headers.get("content-security-policy") || "").includes("sandbox"),
    "downloads are sandboxed");

  // ---- a tenant's HTML page cannot act as the console -----------------
  // A public HTML object on the same origin tries to read the session; S3
  // answers are sandboxed (opaque origin), so it cannot.
  const put = await page.evaluate(async () => {
    const { session } = await import("/console/aws.js");
    const html = "<title>start</title><script>fetch('/console/api/session', {credentials: 'include'})" +
      ".then(r => r.text()).then(t => { document.title = 'read:' + t; }, e => { document.title = 'blocked'; });</script>";
    const r = await fetch("/console/api/s3/console-photos?herald-key=evil.html", { method: "PUT", body: html,
      headers: { "x-herald-csrf": session.csrf, "content-type": "text/html", "x-amz-acl": "public-read" } });
    return r.status;
  });
  check(put === 200, "a public HTML object uploaded");
  const evil = await ctx.newPage();
  await evil.goto(url + "/console-photos/evil.html");
  await until("the page's script ran", async () => (await evil.title()) !== "start");
  const title = await evil.title();
  check(!title.includes("csrf"), `a tenant's page cannot read the console session (${title.slice(0, 60)})`);
  await evil.close();

  // ---- sign out ----------------------------------------------------------
  await page.click("#sign-out");
  await page.waitForSelector("#sign-in:not([hidden])");
  const after = await fetch(objectUrl, { headers: { cookie: `herald_console=${sess.value}` } });
  check(after.status === 401, "the session is gone after sign-out");

  // ---- bob sees none of alice's things ---------------------------------
  const bctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const bpage = await bctx.newPage();
  await signIn(bpage, bob);
  await bpage.goto(url + "/console/#/buckets");
  await bpage.waitForSelector("#page p.muted:text('No buckets yet.')");
  await bpage.goto(url + "/console/#/topics");
  await bpage.waitForSelector("#page p.muted:text('No topics yet.')");
  await bpage.goto(url + "/console/#/queues");
  await bpage.waitForSelector("#page p.muted:text('No queues yet.')");
  const arn = uploads && (await (async () => {
    const m = doc.match(/<Topic>([^<]+)<\/Topic>/);
    return m && m[1];
  })());
  const probes = await bpage.evaluate(async ({ arn }) => {
    const { session } = await import("/console/aws.js");
    const h = { "x-herald-csrf": session.csrf };
    const st = async (p, o) => (await fetch("/console/api/" + p, Object.assign({ headers: h }, o))).status;
    return {
      object: await st("s3/console-photos?herald-key=cat.jpg"),
      objectPath: await st("s3/console-photos/cat.jpg"),
      list: await st("s3/console-photos?list-type=2"),
      events: await st("topic-events?arn=" + encodeURIComponent(arn)),
      test: await st("topic-test?arn=" + encodeURIComponent(arn), { method: "POST" }),
      peek: await st("queue-peek?url=" + encodeURIComponent("http://x/alice/console-jobs")),
      overview: await (await fetch("/console/api/overview", { headers: h })).json(),
    };
  }, { arn });
  check(probes.object === 403 && probes.objectPath === 403 && probes.list === 403,
    `bob cannot read alice's bucket (${probes.object}, ${probes.objectPath}, ${probes.list})`);
  check(probes.events === 404 && probes.test === 404 && probes.peek === 404,
    `bob cannot see alice's topic or queue (${probes.events}, ${probes.test}, ${probes.peek})`);
  check(probes.overview.topics.length === 0 && probes.overview.totals.in === 0, "bob's overview has none of alice's figures");
  await bpage.goto(url + "/console/#/topic/" + encodeURIComponent(arn));
  await bpage.waitForSelector("#page .error:not(:empty)");
  check(true, "alice's topic page shows bob an error, not its attributes");
  await bctx.close();
  await ctx.close();
  check(pageErrors.length === 0, `no script errors in the page (${pageErrors.join("; ")})`);
  console.log("all console checks passed");
} finally {
  await browser.close();
  receiver.close();
}
