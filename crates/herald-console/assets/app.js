// The console's shell: sign-in, navigation (hash routes), sign-out.
import { session, call, json } from "./aws.js";
import { show } from "./ui.js";
import * as pages from "./pages.js";

const $ = (id) => document.getElementById(id);

const routes = [
  [/^#\/overview$/, () => pages.overview(), "overview"],
  [/^#\/buckets$/, () => pages.buckets(), "buckets"],
  [/^#\/bucket\/([^/]+)\/?(.*)$/, (m) => pages.bucket(decodeURIComponent(m[1]), decodeURIComponent(m[2])), "buckets"],
  [/^#\/topics$/, () => pages.topicList(), "topics"],
  [/^#\/topic\/(.+)$/, (m) => pages.topic(decodeURIComponent(m[1])), "topics"],
  [/^#\/queues$/, () => pages.queueList(), "queues"],
  [/^#\/queue\/(.+)$/, (m) => pages.queue(decodeURIComponent(m[1])), "queues"],
  [/^#\/live$/, () => pages.live(), "live"],
];

async function route() {
  pages.leave();
  if (!session.user) return;
  const hash = location.hash || "#/overview";
  for (const [re, page, nav] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === nav);
    await page(m);
    return;
  }
  // Replaced, not pushed: Back must not lead to the unknown address again.
  location.replace("#/overview");
}

function signedIn(who) {
  session.user = who.user;
  session.csrf = who.csrf;
  session.region = who.region || "";
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = who.user;
  route();
}

function signedOut(why) {
  pages.leave();
  session.user = ""; session.csrf = "";
  $("sign-in-error").textContent = why || "";
  $("nav").hidden = true;
  $("who").hidden = true;
  show();
  $("sign-in").hidden = false;
}

$("sign-in").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  $("sign-in-error").textContent = "";
  try {
    await call("session", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ accessKey: form.get("accessKey"), secretKey: form.get("secretKey") }),
    });
    e.target.reset();
    signedIn(await json("session"));
  } catch (err) {
    $("sign-in-error").textContent = err.message;
  }
});

$("sign-out").addEventListener("click", async () => {
  try { await call("session", { method: "DELETE" }); } catch (_) { /* gone already */ }
  signedOut("");
});

window.addEventListener("herald-signed-out", () => signedOut("Your session has ended; sign in again."));
// Another tab signed in again (new token) or as someone else.
window.addEventListener("herald-session-changed", (e) => {
  if (e.detail.user !== $("who-name").textContent) signedIn(e.detail);
});
window.addEventListener("hashchange", route);

(async () => {
  try { signedIn(await json("session")); } catch (_) { signedOut(""); }
})();
