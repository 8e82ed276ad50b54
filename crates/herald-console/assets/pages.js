// The console's pages. Each takes the route's arguments and draws into
// #page; `cleanup` (set by a page) runs when the user leaves it.
import { h, table, show, toast, errorBox, attempt, bytes, num, age, chart, bars } from "./ui.js";
import { call, s3, topics, queues, xml, pretty } from "./aws.js";

export const state = { visit: 0, cleanups: [] };

/** Ends the current page: its timers and streams stop, and its pending
 * loads will not draw (a page still loading when the user moves on must
 * not overwrite the next one). */
export function leave() {
  state.visit++;
  for (const f of state.cleanups.splice(0)) {
    try { f(); } catch (_) { /* already stopped */ }
  }
}

/** One visit of a page: `show` draws only while it is current, and
 * `onLeave` runs when the user leaves (at once if they already have). */
function visit() {
  const id = state.visit;
  const alive = () => id === state.visit;
  return {
    alive,
    show: (...nodes) => { if (alive()) show(...nodes); },
    onLeave: (f) => { if (alive()) state.cleanups.push(f); else f(); },
  };
}

const EVENT_TYPES = [
  "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Copy",
  "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete",
  "s3:ObjectRemoved:DeleteMarkerCreated", "s3:ObjectTagging:*", "s3:ObjectLifecycle:Expiration:*",
];

// ---- Overview ----------------------------------------------------------

export async function overview() {
  const v = visit();
  const cards = h("div", { class: "stats" });
  const graph = h("div");
  const pendingGraph = h("div", { id: "pending-chart" });
  const busyBars = h("div", { id: "busiest-chart" });
  const busy = h("div");
  const err = errorBox();
  v.show(h("h1", {}, "Overview"), err, cards, h("h2", {}, "Events per second, last hour"),
    h("p", { class: "legend" }, h("span", { class: "in" }, "— in"), h("span", { class: "out" }, "— pushed"),
      h("span", { class: "failed" }, "— failed")), graph,
    h("h2", {}, "Pending events, last hour"), pendingGraph,
    h("h2", {}, "Busiest topics (events in, last hour)"), busyBars, busy);
  let previous = null;
  const draw = async () => {
    const o = await attempt(err, () => call("overview").then((r) => r.json()));
    if (!o) return;
    const t = o.totals;
    const now = Date.now();
    // The rate since the last poll; before there is one, the last sample's.
    const last = o.points[o.points.length - 1];
    // Totals fall when a topic is deleted: a rate is never below 0.
    const rate = (k) => previous ? Math.max(0, (t[k] - previous.t[k]) * 1000 / (now - previous.at)).toFixed(1)
      : last ? (last[k] / o.interval_seconds).toFixed(1) : "…";
    cards.replaceChildren(
      stat("Events in", num(t.in), `${rate("in")}/s now`, "events-in"),
      stat("Pushed", num(t.out), `${rate("out")}/s now`, "events-out"),
      stat("Push failures", num(t.failed), `${rate("failed")}/s now`, "events-failed"),
      stat("Pending", num(t.pending), "waiting in persistent topics", "events-pending"),
    );
    previous = { t, at: now };
    graph.replaceChildren(chart(o.points, ["in", "out", "failed"], o.interval_seconds));
    pendingGraph.replaceChildren(chart(o.points, ["pending"], o.interval_seconds, { level: true }));
    busyBars.replaceChildren(o.topics.length === 0 ? "" :
      bars(o.topics.map((x) => ({ label: x.name, value: x.in_last_hour }))));
    busy.replaceChildren(o.topics.length === 0 ? h("p", { class: "muted" }, "No topics yet.") :
      table(["Topic", "In, last hour#", "In#", "Pushed#", "Failed#", "Pending#"], o.topics.map((x) => [
        h("a", { href: "#/topic/" + encodeURIComponent(x.arn) }, x.name), num(x.in_last_hour), num(x.in),
        num(x.out), num(x.failed), num(x.pending)])));
  };
  await draw();
  // Hidden tabs do not poll, so an unattended console's session can idle out.
  const timer = setInterval(() => { if (!document.hidden) draw(); }, 5000);
  v.onLeave(() => clearInterval(timer));
}

function stat(label, value, note, id) {
  return h("div", { class: "stat", id }, h("div", { class: "value" }, value), h("div", { class: "label" }, label),
    h("div", { class: "muted" }, note));
}

// ---- Buckets -----------------------------------------------------------

export async function buckets() {
  const v = visit();
  const err = errorBox();
  const list = h("div");
  const name = h("input", { name: "bucket", placeholder: "new-bucket-name", required: true });
  const form = h("form", { class: "row card", onsubmit: async (e) => {
    e.preventDefault();
    await attempt(err, async () => { await s3.createBucket(name.value.trim()); toast("Bucket created"); await load(); });
  } }, h("label", {}, "Bucket name", name), h("button", { type: "submit" }, "Create bucket"));
  v.show(h("h1", {}, "Buckets"), form, err, list);
  const load = async () => {
    const bs = await attempt(err, () => s3.buckets());
    if (!bs) return;
    list.replaceChildren(bs.length === 0 ? h("p", { class: "muted" }, "No buckets yet.") :
      table(["Name", "Created", ""], bs.map((b) => [
        h("a", { href: "#/bucket/" + encodeURIComponent(b.name) + "/" }, b.name), b.created,
        h("button", { class: "danger", type: "button", onclick: async () => {
          if (!confirm(`Delete bucket ${b.name}? It must be empty.`)) return;
          await attempt(err, async () => { await s3.deleteBucket(b.name); toast("Bucket deleted"); await load(); });
        } }, "Delete")])));
  };
  await load();
}

export async function bucket(name, prefix) {
  const v = visit();
  const err = errorBox();
  const listing = h("div");
  const detail = h("div", { id: "object-details" });
  const crumbs = h("p", { class: "crumbs" });
  const file = h("input", { type: "file", name: "file", multiple: true });
  const uploadErr = errorBox();
  const send = h("button", { type: "submit" }, "Upload");
  const upload = h("form", { class: "row card", onsubmit: async (e) => {
    e.preventDefault();
    send.disabled = true;
    const failed = [];
    for (const f of file.files) {
      try {
        await s3.put(name, prefix + f.name, f);
        toast(`Uploaded ${f.name}`);
      } catch (x) {
        failed.push(`${f.name}: ${x.message}`);
      }
    }
    uploadErr.textContent = failed.join("\n");
    file.value = "";
    send.disabled = false;
    await load();
  } }, h("label", {}, `Upload to ${prefix || "/"}`, file), send, uploadErr);
  const notif = await notificationEditor(name);
  const lifecycle = await configEditor(name, "lifecycle", "NoSuchLifecycleConfiguration", "Lifecycle rules",
    "No lifecycle rules. Paste a LifecycleConfiguration document to add some.");
  v.show(h("h1", {}, "Bucket ", name), crumbs, upload, err, listing, detail, notif, lifecycle);
  const parts = prefix.split("/").filter(Boolean);
  crumbs.replaceChildren(h("a", { href: `#/bucket/${encodeURIComponent(name)}/` }, name),
    ...parts.map((p, i) => h("a", { href: `#/bucket/${encodeURIComponent(name)}/` +
      encodeURIComponent(parts.slice(0, i + 1).join("/") + "/") }, "/ " + p)));
  // Pages of 200: the markers of the pages before this one, for "Previous"
  // (a continuation token, or a key and version id in the versions view).
  const pages = [];
  let token = null;
  const showVersions = h("input", { type: "checkbox", id: "show-versions", onchange: async () => {
    pages.length = 0; token = null; await load();
  } });
  const download = (key, versionId) => h("a", { href: s3.downloadUrl(name, key, versionId),
    download: key.split("/").pop() || "download" }, "Download");
  const remove = (key, versionId, question) => h("button", { class: "danger", type: "button", onclick: async () => {
    if (!confirm(question)) return;
    await attempt(err, async () => { await s3.remove(name, key, versionId); toast("Deleted"); await load(); });
  } }, "Delete");
  // One object's headers, metadata and tags, with a tag editor.
  const details = async (key) => {
    const detailErr = errorBox();
    const head = await attempt(err, () => s3.head(name, key));
    if (!head) return;
    const tags = (await attempt(err, () => s3.tags(name, key))) || [];
    const editor = h("textarea", { name: "tags", placeholder: "key=value, one a line" });
    editor.value = tags.map(([k, v]) => `${k}=${v}`).join("\n");
    const save = h("button", { type: "button", onclick: () => attempt(detailErr, async () => {
      const pairs = editor.value.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
        const i = l.indexOf("=");
        return i < 0 ? [l, ""] : [l.slice(0, i).trim(), l.slice(i + 1).trim()];
      });
      await s3.setTags(name, key, pairs);
      toast("Tags saved");
    }) }, "Save tags");
    detail.replaceChildren(h("div", { class: "card" }, h("h2", {}, key),
      table(["Header", "Value"], Object.entries(head), { class: "kv" }),
      h("label", {}, "Tags (up to 10)", editor), h("p", {}, save), detailErr));
    detail.scrollIntoView();
  };
  const load = async () => {
    const versions = showVersions.checked;
    const l = await attempt(err, () => versions ? s3.versions(name, prefix, token) : s3.list(name, prefix, token || ""));
    if (!l) return;
    const rows = l.folders.map((f) => [h("a", { href: `#/bucket/${encodeURIComponent(name)}/${encodeURIComponent(f)}` },
      f.slice(prefix.length)), "folder", "", ""].concat(versions ? [""] : []));
    if (versions) {
      for (const e of l.entries) {
        const label = e.deleteMarker ? "delete marker" : e.versionId + (e.latest ? " (latest)" : "");
        rows.push([e.key.slice(prefix.length), label, e.deleteMarker ? "" : bytes(e.size), e.modified, h("span", {},
          e.deleteMarker ? "" : download(e.key, e.versionId), " ",
          remove(e.key, e.versionId, `Delete this ${e.deleteMarker ? "delete marker" : "version"} of ${e.key} for good?`))]);
      }
    } else {
      for (const o of l.objects) {
        rows.push([o.key.slice(prefix.length), bytes(o.size), o.modified, h("span", {},
          h("button", { type: "button", class: "secondary", onclick: () => details(o.key) }, "Details"), " ",
          download(o.key), " ", remove(o.key, undefined, `Delete ${o.key}?`))]);
      }
    }
    const nav = h("p", { class: "row" },
      pages.length ? h("button", { type: "button", class: "secondary", onclick: async () => {
        token = pages.pop(); await load();
      } }, "Previous page") : "",
      l.next ? h("button", { type: "button", class: "secondary", id: "next-page", onclick: async () => {
        pages.push(token); token = l.next; await load();
      } }, "Next page") : "",
      pages.length || l.next ? h("span", { class: "muted" }, `page ${pages.length + 1}, 200 entries a page`) : "");
    const columns = versions ? ["Name", "Version", "Size", "Modified", ""] : ["Name", "Size", "Modified", ""];
    listing.replaceChildren(
      h("label", { class: "inline" }, showVersions, " Show every version and delete marker"),
      rows.length === 0 ? h("p", { class: "muted" }, "Nothing here yet.") :
        table(columns, rows, { id: "objects", class: "names" }), nav);
  };
  await load();
}

/** A bucket sub-resource document, edited as XML with the API's own checks. */
async function configEditor(bucketName, sub, missing, title, emptyNote) {
  const err = errorBox();
  const text = h("textarea", { name: sub, spellcheck: "false" });
  const current = await attempt(err, () => s3.getConfig(bucketName, sub, missing));
  text.value = current ? pretty(current) : "";
  const save = h("button", { type: "button", onclick: async () => {
    await attempt(err, async () => {
      if (text.value.trim() === "") await s3.deleteConfig(bucketName, sub);
      else await s3.putConfig(bucketName, sub, text.value);
      toast(`${title} saved`);
    });
  } }, "Save");
  return h("div", { class: "card", id: `${sub}-editor` }, h("h2", {}, title),
    current ? "" : h("p", { class: "muted" }, emptyNote), text, h("p", {}, save), err);
}

/** The notification configuration, with a form that adds a topic rule. */
async function notificationEditor(bucketName) {
  const box = await configEditor(bucketName, "notification", "", "Event notifications",
    "No notifications. Add a rule below (to a topic or a queue), then save.");
  const text = box.querySelector("textarea");
  const arns = (await attempt(null, () => topics.list())) || [];
  const queueArns = [];
  for (const url of (await attempt(null, () => queues.list())) || []) {
    const a = await attempt(null, () => queues.attributes(url));
    if (a && a.QueueArn) queueArns.push(a.QueueArn);
  }
  const topic = h("select", { name: "topic" },
    arns.map((a) => h("option", { value: a }, a.split(":").pop())),
    queueArns.map((a) => h("option", { value: a }, "queue: " + a.split(":").pop())));
  const events = h("select", { name: "events", multiple: true, size: 4 },
    EVENT_TYPES.map((e, i) => h("option", { value: e, selected: i === 0 }, e)));
  const prefix = h("input", { name: "prefix", placeholder: "images/" });
  const suffix = h("input", { name: "suffix", placeholder: ".jpg" });
  const freshId = () => "rule-" + Math.random().toString(36).slice(2, 7);
  const id = h("input", { name: "id", placeholder: "rule id", value: freshId() });
  const formErr = errorBox();
  const add = h("button", { type: "button", class: "secondary", onclick: () => {
    formErr.textContent = "";
    try {
      text.value = addRule(text.value, { id: id.value.trim(), target: topic.value,
        events: Array.from(events.selectedOptions).map((o) => o.value), prefix: prefix.value, suffix: suffix.value });
      id.value = freshId();
    } catch (e) {
      formErr.textContent = e.message;
    }
  } }, "Add rule to the document");
  box.insertBefore(h("div", { class: "row" }, h("label", {}, "Destination", topic), h("label", {}, "Events", events),
    h("label", {}, "Prefix", prefix), h("label", {}, "Suffix", suffix), h("label", {}, "Id", id), add, formErr),
  text);
  // S3 answers an empty document when there is none: say so.
  const hasRules = /<(Topic|Queue|CloudFunction)Configuration>/.test(text.value);
  if (!hasRules && !box.querySelector("p.muted")) {
    box.insertBefore(h("p", { class: "muted" }, "No notifications. Add a rule below (to a topic or a queue), then save."),
      box.children[1]);
  }
  return box;
}

/** Appends a TopicConfiguration, or a QueueConfiguration for a queue ARN. */
function addRule(current, r) {
  const S3NS = "http://s3.amazonaws.com/doc/2006-03-01/";
  let doc = xml(current);
  if (current.trim() && (!doc || doc.documentElement.nodeName !== "NotificationConfiguration")) {
    // Never replace a document the user is editing: fix it first.
    throw new Error("The document above is not a NotificationConfiguration that parses; fix it (or clear it) first.");
  }
  if (!doc) {
    doc = new DOMParser().parseFromString(`<NotificationConfiguration xmlns="${S3NS}"/>`, "application/xml");
  }
  if (!r.id) throw new Error("Give the rule an Id.");
  if (Array.from(doc.getElementsByTagName("Id")).some((e) => e.textContent === r.id)) {
    throw new Error(`The document already has a rule with Id ${r.id}.`);
  }
  if (!r.target) throw new Error("Create a topic or a queue first: the rule needs a destination.");
  const ns = doc.documentElement.namespaceURI;
  const el = (name, value) => { const e = doc.createElementNS(ns, name); if (value !== undefined) e.textContent = value; return e; };
  const queue = r.target.startsWith("arn:aws:sqs:");
  const tc = el(queue ? "QueueConfiguration" : "TopicConfiguration");
  tc.append(el("Id", r.id), el(queue ? "Queue" : "Topic", r.target));
  for (const e of r.events) tc.append(el("Event", e));
  const rules = [["prefix", r.prefix], ["suffix", r.suffix]].filter(([, v]) => v);
  if (rules.length) {
    const key = el("S3Key");
    for (const [n, v] of rules) { const fr = el("FilterRule"); fr.append(el("Name", n), el("Value", v)); key.append(fr); }
    const f = el("Filter"); f.append(key); tc.append(f);
  }
  doc.documentElement.append(tc);
  return pretty(new XMLSerializer().serializeToString(doc));
}

// ---- Topics ------------------------------------------------------------

export async function topicList() {
  const v = visit();
  const err = errorBox();
  const list = h("div");
  const name = h("input", { name: "name", required: true, placeholder: "my-topic" });
  const endpoint = h("input", { name: "push-endpoint", placeholder: "http://receiver:8080/events" });
  const persistent = h("input", { type: "checkbox", name: "persistent", checked: true });
  const extra = h("textarea", { name: "extra", placeholder: "one attribute per line, e.g.\nmax_retries=10\nretention=86400" });
  const form = h("form", { class: "card", onsubmit: async (e) => {
    e.preventDefault();
    await attempt(err, async () => {
      const attrs = {};
      if (endpoint.value.trim()) attrs["push-endpoint"] = endpoint.value.trim();
      if (persistent.checked) attrs.persistent = "true";
      for (const line of extra.value.split("\n")) {
        const i = line.indexOf("=");
        if (i > 0) attrs[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      await topics.create(name.value.trim(), attrs);
      toast("Topic created");
      await load();
    });
  } }, h("h2", {}, "New topic"), h("div", { class: "row" }, h("label", {}, "Name", name),
    h("label", {}, "Push endpoint", endpoint), h("label", {}, h("span", {}, "Persistent "), persistent)),
  h("label", {}, "More attributes", extra), h("button", { type: "submit" }, "Create topic"));
  v.show(h("h1", {}, "Topics"), err, list, form);
  const load = async () => {
    const arns = await attempt(err, () => topics.list());
    if (!arns) return;
    // Eight at a time: a thousand topics load in about a second.
    const all = await inParallel(arns, 8, (arn) => attempt(err, () => topics.attributes(arn)));
    const rows = [];
    for (const [i, arn] of arns.entries()) {
      const a = all[i] || {};
      rows.push([h("a", { href: "#/topic/" + encodeURIComponent(arn) }, arn.split(":").pop()),
        endpointOf(a), a.Persistent || "", a.SubscriptionStatus || "",
        num(a.PendingEvents), age(a.OldestPendingAgeSeconds), num(a.EventsTriggered), num(a.PushOk),
        num(a.PushFailed), a.LastError || ""]);
    }
    list.replaceChildren(rows.length === 0 ? h("p", { class: "muted" }, "No topics yet.") :
      table(["Topic", "Endpoint", "Persistent", "Subscription", "Pending#", "Oldest", "In#", "Pushed#", "Failed#",
        "Last error"], rows, { id: "topics", class: "names" }));
  };
  await load();
}

export async function topic(arn) {
  const v = visit();
  const err = errorBox();
  const attrs = h("div", { id: "topic-attributes" });
  const output = h("pre", { id: "topic-output", hidden: true });
  const attrName = h("input", { name: "attribute", placeholder: "max_retries" });
  const attrValue = h("input", { name: "value" });
  const since = h("input", { name: "since", value: "1h" });
  const until = h("input", { name: "until", placeholder: "empty = now" });
  const rate = h("input", { name: "rate", placeholder: "events/s" });
  const out = (x) => { output.hidden = false; output.textContent = typeof x === "string" ? x : JSON.stringify(x, null, 2); };
  // An action's error stays until the next action (the 5-second refresh
  // has its own box).
  const pollErr = errorBox();
  const act = (label, fn, cls) => h("button", { type: "button", class: cls || "secondary",
    onclick: () => { output.hidden = true; output.textContent = ""; return attempt(err, fn); } }, label);
  v.show(h("h1", {}, "Topic ", arn.split(":").pop()), h("p", { class: "muted" }, arn), err,
    h("div", { class: "row card" },
      act("Send test event", async () => { out(await topics.test(arn)); await load(); }),
      act("Show queued events", async () => out(await topics.events(arn, 100))),
      act("Delete topic", async () => {
        if (!confirm("Delete this topic?")) return;
        await topics.remove(arn); toast("Topic deleted"); location.hash = "#/topics";
      }, "danger")),
    h("div", { class: "split" },
      h("div", { class: "card" }, h("h2", {}, "Change an attribute"), h("div", { class: "row" },
        h("label", {}, "Attribute", attrName), h("label", {}, "Value", attrValue),
        act("Set", async () => { await topics.set(arn, attrName.value.trim(), attrValue.value); toast("Saved"); await load(); }, ""))),
      h("div", { class: "card" }, h("h2", {}, "Replay retained events"), h("div", { class: "row" },
        h("label", {}, "Since", since), h("label", {}, "Until", until), h("label", {}, "Rate", rate),
        act("Replay", async () => { out(await topics.replay(arn, since.value, until.value, rate.value)); await load(); }, ""),
        act("Cancel", async () => { out({ cancelled: await topics.cancelReplay(arn) }); await load(); })))),
    output, h("h2", {}, "Attributes"), pollErr, attrs);
  const load = async () => {
    const a = await attempt(pollErr, () => topics.attributes(arn));
    if (!a) return;
    attrs.replaceChildren(table(["Attribute", "Value"], Object.entries(a).map(([k, v]) => [k, v]), { class: "kv" }));
  };
  await load();
  const timer = setInterval(() => { if (!document.hidden) load(); }, 5000);
  v.onLeave(() => clearInterval(timer));
}

/** `fn` over `items`, at most `n` at a time, results in order. */
async function inParallel(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** The push endpoint from GetTopicAttributes' `EndPoint` document. */
function endpointOf(a) {
  try { return JSON.parse(a.EndPoint || "{}").EndpointAddress || ""; } catch (_) { return ""; }
}

// ---- Queues ------------------------------------------------------------

export async function queueList() {
  const v = visit();
  const err = errorBox();
  const list = h("div");
  const name = h("input", { name: "queue", required: true, placeholder: "my-queue" });
  const form = h("form", { class: "row card", onsubmit: async (e) => {
    e.preventDefault();
    await attempt(err, async () => { await queues.create(name.value.trim()); toast("Queue created"); await load(); });
  } }, h("label", {}, "Queue name", name), h("button", { type: "submit" }, "Create queue"));
  v.show(h("h1", {}, "Queues"), form, err, list);
  const load = async () => {
    const urls = await attempt(err, () => queues.list());
    if (!urls) return;
    const rows = [];
    for (const url of urls) {
      const a = (await attempt(err, () => queues.attributes(url))) || {};
      rows.push([h("a", { href: "#/queue/" + encodeURIComponent(url) }, url.split("/").pop()),
        num(a.ApproximateNumberOfMessages), num(a.ApproximateNumberOfMessagesNotVisible),
        num(a.ApproximateNumberOfMessagesDelayed), deadLetterOf(a)]);
    }
    list.replaceChildren(rows.length === 0 ? h("p", { class: "muted" }, "No queues yet.") :
      table(["Queue", "Visible#", "In flight#", "Delayed#", "Dead letters to"], rows, { id: "queues", class: "names" }),
      urls.length >= 1000 ? h("p", { class: "muted" }, "The first 1,000 queues.") : "");
  };
  await load();
}

function deadLetterOf(a) {
  try { return a.RedrivePolicy ? JSON.parse(a.RedrivePolicy).deadLetterTargetArn.split(":").pop() : ""; } catch (_) { return ""; }
}

export async function queue(url) {
  const v = visit();
  const err = errorBox();
  const attrs = h("div");
  const output = h("pre", { id: "queue-output", hidden: true });
  const target = h("select", { name: "dead-letter-queue" }, h("option", { value: "" }, "(none)"));
  const maxReceive = h("input", { name: "max-receive", value: "5", size: 4 });
  const act = (label, fn, cls) => h("button", { type: "button", class: cls || "secondary", onclick: () => attempt(err, fn) }, label);
  v.show(h("h1", {}, "Queue ", url.split("/").pop()), h("p", { class: "muted" }, url), err,
    h("div", { class: "row card" },
      act("Peek messages", async () => { output.hidden = false; output.textContent = JSON.stringify(await queues.peek(url, 10), null, 2); }),
      act("Purge", async () => { if (confirm("Delete every message?")) { await queues.purge(url); toast("Purged"); await load(); } }, "danger"),
      act("Delete queue", async () => { if (confirm("Delete this queue?")) { await queues.remove(url); location.hash = "#/queues"; } }, "danger")),
    h("div", { class: "card" }, h("h2", {}, "Dead-letter queue"), h("div", { class: "row" },
      h("label", {}, "Move messages to", target), h("label", {}, "after receives", maxReceive),
      act("Save", async () => {
        if (!target.value && !confirm("Remove the dead-letter queue? Messages then stay in this queue.")) return;
        const policy = target.value ? JSON.stringify({ deadLetterTargetArn: target.value, maxReceiveCount: Number(maxReceive.value) }) : "";
        await queues.setAttributes(url, { RedrivePolicy: policy });
        toast("Saved"); await load();
      }, ""))),
    output, h("h2", {}, "Attributes"), attrs);
  // Candidates: the owner's other queues of the same kind (a FIFO queue's
  // dead letters go to a FIFO queue, a standard one's to a standard one).
  const fifo = url.endsWith(".fifo");
  for (const other of (await attempt(err, () => queues.list())) || []) {
    if (other === url || other.endsWith(".fifo") !== fifo) continue;
    const a = await attempt(null, () => queues.attributes(other));
    if (a && a.QueueArn) target.append(h("option", { value: a.QueueArn }, other.split("/").pop()));
  }
  let shownPolicy = null;
  const load = async () => {
    const a = await attempt(err, () => queues.attributes(url));
    if (!a) return;
    // The form shows the policy in force (once, so a choice in progress
    // is not undone by a reload).
    if (shownPolicy !== (a.RedrivePolicy || "")) {
      shownPolicy = a.RedrivePolicy || "";
      try {
        const p = JSON.parse(shownPolicy || "{}");
        target.value = p.deadLetterTargetArn || "";
        if (p.maxReceiveCount) maxReceive.value = String(p.maxReceiveCount);
      } catch (_) { /* shown in the table below as it is */ }
    }
    attrs.replaceChildren(table(["Attribute", "Value"], Object.entries(a).map(([k, v]) => [k, v]), { class: "kv" }));
  };
  await load();
}

// ---- Live events ------------------------------------------------------

export async function live() {
  const v = visit();
  let controller = null;
  // Registered before the first wait: leaving early still ends the stream.
  v.onLeave(() => controller && controller.abort());
  const err = errorBox();
  const bucketSel = h("select", { name: "bucket" }, h("option", { value: "" }, "(all my buckets)"));
  for (const b of (await attempt(err, () => s3.buckets())) || []) bucketSel.append(h("option", { value: b.name }, b.name));
  if (!v.alive()) return;
  const typeSel = h("select", { name: "event" }, h("option", { value: "" }, "(all events)"),
    EVENT_TYPES.map((e) => h("option", { value: e }, e)));
  const prefix = h("input", { name: "prefix", placeholder: "prefix" });
  const pause = h("button", { type: "button", class: "secondary", id: "pause" }, "Pause");
  const status = h("span", { class: "muted", id: "live-status" }, "connecting…");
  const rows = h("tbody", { id: "live-rows" });
  // What the table shows, and what a pause holds back: the same bound.
  const MAX_ROWS = 500;
  const held = [];
  let paused = false, dropped = 0;
  const pausedText = () => `paused, ${held.length} waiting` + (dropped ? `, ${dropped} dropped` : "");
  v.show(h("h1", {}, "Live events"), err,
    h("div", { class: "row card" }, h("label", {}, "Bucket", bucketSel), h("label", {}, "Event", typeSel),
      h("label", {}, "Prefix", prefix), pause, status),
    h("p", { class: "muted" }, `The newest ${MAX_ROWS} events; a pause holds up to ${MAX_ROWS} more.`),
    h("table", {}, h("thead", {}, h("tr", {}, ["Time", "Event", "Bucket", "Key", "Size"].map((c) => h("th", {}, c)))), rows));
  const add = (r) => {
    const o = (r.s3 && r.s3.object) || {};
    rows.prepend(h("tr", {}, h("td", {}, r.eventTime || ""), h("td", {}, r.eventName || ""),
      h("td", {}, (r.s3 && r.s3.bucket && r.s3.bucket.name) || ""), h("td", {}, decodeKey(o.key || "")),
      h("td", {}, o.size === undefined ? "" : bytes(o.size))));
    while (rows.children.length > MAX_ROWS) rows.lastChild.remove();
  };
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    if (paused) { status.textContent = pausedText(); return; }
    held.splice(0).forEach(add);
    dropped = 0;
    status.textContent = "watching";
  });
  const start = async () => {
    if (controller) controller.abort();
    const mine = new AbortController();
    controller = mine;
    // A new filter starts a new view: nothing of the old one stays.
    rows.replaceChildren();
    held.length = 0;
    dropped = 0;
    err.textContent = "";
    const q = new URLSearchParams();
    q.append("events", typeSel.value);
    if (prefix.value) q.set("prefix", prefix.value);
    const path = (bucketSel.value ? "s3/" + encodeURIComponent(bucketSel.value) : "s3") + "?" + q;
    status.textContent = "connecting…";
    try {
      const resp = await call(path, { signal: mine.signal });
      status.textContent = paused ? pausedText() : "watching";
      const reader = resp.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          let doc;
          try { doc = JSON.parse(line); } catch (_) { continue; }
          for (const r of doc.Records || []) {
            if (!paused) { add(r); continue; }
            if (held.length < MAX_ROWS) held.push(r); else dropped++;
            status.textContent = pausedText();
          }
        }
      }
      if (controller === mine) status.textContent = "stream ended";
    } catch (e) {
      if (e.name !== "AbortError" && controller === mine) { err.textContent = e.message; status.textContent = "stopped"; }
    }
  };
  for (const el of [bucketSel, typeSel, prefix]) el.addEventListener("change", start);
  start();
}

function decodeKey(k) {
  try { return decodeURIComponent(k.replace(/\+/g, " ")); } catch (_) { return k; }
}

