// Gameday: small progressive enhancements. Every page works without this file.
"use strict";

const zone = document.body.dataset.tz || Intl.DateTimeFormat().resolvedOptions().timeZone;

// Clock times are written by the server; rewrite them in the viewer's zone (the live stream
// renders each event once, in UTC, for everyone).
function localize(root) {
  const clock = new Intl.DateTimeFormat(undefined, {
    timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  for (const time of root.querySelectorAll("time[data-clock]")) {
    const at = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) time.textContent = clock.format(at);
  }
}

function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const input = document.getElementById(button.dataset.copy);
    if (!input || !navigator.clipboard) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(input.value);
        button.textContent = "Copied";
      } catch {
        input.select();
      }
    });
  }
  for (const input of document.querySelectorAll("input[readonly]")) {
    input.addEventListener("focus", () => input.select());
  }
}

// A retry delay spread between half and one and a half times `ms`, so that pages refused
// together (a server at its limit of streams) do not all come back at the same moment.
const later = (ms) => Math.round(ms * (0.5 + Math.random()));

// The live timeline: Server-Sent Events carry each new event as the same HTML the page
// renders; the browser resumes with Last-Event-ID after a drop, so nothing is lost or doubled.
function live() {
  const root = document.querySelector("[data-live]");
  if (!root || !window.EventSource) return;
  const status = document.getElementById("live-status");
  const list = document.getElementById("timeline-events");
  const filtered = root.dataset.filtered === "true";
  const setStatus = (text, state) => {
    if (!status) return;
    // A game day that is not running is not "Live": its page only says it updates by itself.
    if (state === "live" && status.dataset.quiet) [text, state] = [status.dataset.quiet, "quiet"];
    status.hidden = false;
    status.textContent = text;
    status.dataset.state = state;
  };
  let lastSeq = root.dataset.lastSeq || "0";
  let source = null;
  let retry = 1000;
  // EventSource retries by itself after a dropped connection (sending Last-Event-ID), but gives
  // up for good after an error answer (a 503 while the database restarts, or while the server
  // holds as many streams as it may): start it again then, after a growing, spread-out delay.
  const connect = () => {
    source = new EventSource(`${root.dataset.live}?after=${encodeURIComponent(lastSeq)}`);
    source.addEventListener("open", () => { retry = 1000; setStatus("Live", "live"); });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED && source.superseded) return;
      setStatus("Reconnecting…", "reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, later(retry));
        retry = Math.min(retry * 2, 30000);
      }
    });
    // This person opened more pages than the server keeps streams for: this one, their oldest,
    // stops listening rather than reconnect and close another page's stream in turn.
    source.addEventListener("superseded", (message) => {
      source.superseded = true;
      source.close();
      setStatus(message.data, "paused");
    });
    source.addEventListener("message", onMessage);
    source.addEventListener("banners", (message) => {
      const banners = document.getElementById("fault-banners");
      if (!banners) return;
      // Keep each banner that did not change (a reason being typed into its Halt form stays).
      const fresh = parse(message.data);
      const kept = fresh.map((node) => {
        const old = node.id && document.getElementById(node.id);
        return old && old.outerHTML === node.outerHTML ? old : carryOver(old, node);
      });
      banners.replaceChildren(...kept);
      localize(banners);
      elapsed(banners);
    });
    source.addEventListener("parts", applyParts);
    source.addEventListener("notify", notify);
  };
  // Leaving the page closes the stream at once (a browser allows few connections per site).
  window.addEventListener("pagehide", () => source && source.close());
  setStatus("Connecting…", "connecting");
  const onMessage = (message) => {
    if (message.lastEventId) lastSeq = message.lastEventId;
    const template = document.createElement("template");
    template.innerHTML = message.data.trim();
    const item = template.content.firstElementChild;
    if (!item || document.getElementById(item.id)) return;
    // The stream sends each event once: the page's count goes up by one.
    const total = document.getElementById("event-total");
    if (total && /^\d+$/.test(total.textContent.trim())) total.textContent = String(Number(total.textContent) + 1);
    localize(item);
    // The stream renders an event once for everyone: "Correct" stays only for its author and
    // for facilitators (the server refuses anyone else all the same).
    const reach = root.dataset.mayCorrect;
    if (reach && reach !== "all" && !(reach === "own" && item.dataset.author === root.dataset.viewer)) {
      item.querySelector(".correct-box")?.remove();
    }
    if (filtered || !list) {
      const notice = document.getElementById("new-events");
      if (notice) notice.hidden = false;
      return;
    }
    document.getElementById("timeline-empty")?.remove();
    item.classList.add("event-new");
    list.appendChild(item);
    if (following()) list.scrollTop = list.scrollHeight;
    const original = item.dataset.corrects && document.getElementById(`event-${item.dataset.corrects}`);
    const note = item.querySelector("template.correction-note");
    // The original may already show this correction (when both came in one batch). The note
    // itself is rendered by the server, as the page renders it.
    if (original && note && !original.querySelector(`.corrections a[href="#${item.id}"]`)) {
      original.classList.add("event-corrected");
      original.querySelector(".corrections")?.append(note.content.cloneNode(true));
    }
  };
  // Follow mode (the control room on a laptop): the timeline keeps its newest event in view.
  const follow = document.getElementById("follow");
  const following = () => follow && follow.checked && list && list.scrollHeight > list.clientHeight;
  if (follow && list) {
    follow.closest(".follow-toggle").hidden = false;
    if (following()) list.scrollTop = list.scrollHeight;
    // Scrolling up to read stops following; back at the bottom, it follows again.
    list.addEventListener("scroll", () => {
      if (list.scrollHeight > list.clientHeight) {
        follow.checked = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      }
    });
  }
  connect();
}

// Parts of the page that depend on the state of the game day, a scenario or the viewer's sign-off
// requests: each replaces the element of the same id, when it changed.
function applyParts(message) {
  for (const node of parse(message.data)) {
    const old = node.id && document.getElementById(node.id);
    if (old && old.outerHTML !== node.outerHTML) {
      const fresh = carryOver(old, node);
      old.replaceWith(fresh);
      localize(fresh);
      localizeMarks(fresh);
      elapsed(fresh);
      if (fresh.id.startsWith("signers-")) staleRevision(fresh);
    }
  }
}

// A new revision was saved while this page was open: what it shows is not what would be signed.
function staleRevision(signers) {
  const form = document.querySelector(".signoff-form");
  const shown = form?.querySelector("input[name=revision]")?.value;
  if (!form || !shown || shown === signers.dataset.revision || document.getElementById("revision-stale")) return;
  const notice = document.createElement("p");
  notice.className = "notice";
  notice.id = "revision-stale";
  notice.setAttribute("role", "alert");
  notice.append(`Revision ${signers.dataset.revision} was saved after you opened this page. `);
  const reload = document.createElement("a");
  reload.href = window.location.pathname;
  reload.textContent = "Reload to read it before you sign";
  notice.append(reload, ".");
  form.before(notice);
  for (const button of form.querySelectorAll("button")) button.disabled = true;
}

// Pages that are not a game day's: one stream per person, for the faults in flight in their
// teams (shown on every page), their sign-off requests and notifications.
function personLive() {
  const url = document.body.dataset.meLive;
  if (!url || document.querySelector("[data-live]") || !window.EventSource) return;
  const scope = document.getElementById("signoff-requests")?.dataset.scope;
  let source = null;
  let retry = 1000;
  const connect = () => {
    source = new EventSource(scope ? `${url}?team=${encodeURIComponent(scope)}` : url);
    source.addEventListener("open", () => { retry = 1000; });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED && !source.superseded) {
        setTimeout(connect, later(retry));
        retry = Math.min(retry * 2, 30000);
      }
    });
    source.addEventListener("superseded", () => { source.superseded = true; source.close(); });
    source.addEventListener("parts", applyParts);
    source.addEventListener("notify", notify);
  };
  window.addEventListener("pagehide", () => source && source.close());
  connect();
}

// Browser notifications, only after the person asked for them with a click, and only while the
// tab is hidden (an open page shows everything already).
const NOTIFY_KEY = "gameday-notify";

function notificationsOn() {
  return window.Notification && Notification.permission === "granted" && localStorage.getItem(NOTIFY_KEY) === "on";
}

function notify(message) {
  if (!notificationsOn() || document.visibilityState !== "hidden") return;
  let notice;
  try { notice = JSON.parse(message.data); } catch { return; }
  const shown = new Notification(notice.title, { body: notice.body, tag: notice.tag });
  shown.addEventListener("click", () => { window.focus(); window.location.assign(notice.url); });
}

function notifyToggle() {
  const button = document.getElementById("notify-toggle");
  if (!button || !window.Notification) return;
  const show = () => {
    button.textContent = notificationsOn() ? "Notifications on" : "Notify me";
    button.title = notificationsOn()
      ? "You are notified of announcements, injections, halts, roll-backs and sign-off requests while this tab is hidden. Click to stop."
      : "Get a browser notification when a fault is announced, injected, halted or rolled back, or a scenario waits for your sign-off.";
    button.setAttribute("aria-pressed", notificationsOn() ? "true" : "false");
  };
  button.hidden = false;
  show();
  button.addEventListener("click", async () => {
    if (notificationsOn()) {
      localStorage.removeItem(NOTIFY_KEY);
    } else if (Notification.permission === "denied") {
      button.title = "Notifications are blocked for this site in your browser's settings.";
    } else if ((await Notification.requestPermission()) === "granted") {
      localStorage.setItem(NOTIFY_KEY, "on");
    }
    show();
  });
}

// The day-at-a-glance picture: its tick labels and mark titles carry their times (SVG text has
// no <time>), rewritten in the viewer's zone.
function localizeMarks(root) {
  const clock = new Intl.DateTimeFormat(undefined, {
    timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  for (const node of root.querySelectorAll("[data-at]")) {
    const at = new Date(node.dataset.at);
    if (Number.isNaN(at.getTime())) continue;
    node.textContent = `${node.dataset.before || ""}${clock.format(at)}${node.dataset.after || ""}`;
  }
}

// "for 4 min" beside a fault in flight, kept current.
function elapsed(root) {
  for (const span of root.querySelectorAll(".elapsed[data-since]")) {
    const since = new Date(span.dataset.since);
    if (Number.isNaN(since.getTime())) continue;
    const minutes = Math.max(0, Math.floor((Date.now() - since.getTime()) / 60000));
    span.textContent = minutes === 0 ? "for less than a minute"
      : minutes < 120 ? `for ${minutes} min` : `for ${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }
}

/// The elements of an HTML fragment.
function parse(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return [...template.content.children];
}

/// What a person typed into `old` (inputs with ids) goes on in `fresh`, focus included.
function carryOver(old, fresh) {
  if (!old) return fresh;
  for (const field of old.querySelectorAll("input[id], textarea[id]")) {
    const twin = fresh.querySelector(`#${CSS.escape(field.id)}`);
    if (!twin || field.type === "hidden") continue;
    if (field.type === "checkbox" || field.type === "radio") twin.checked = field.checked;
    else twin.value = field.value;
    if (document.activeElement === field) requestAnimationFrame(() => twin.focus());
  }
  return fresh;
}

// The stream opens after the page has loaded, so it never holds up the page itself.
window.addEventListener("load", live);
window.addEventListener("load", personLive);

document.addEventListener("DOMContentLoaded", () => {
  copyButtons();
  notifyToggle();
  localize(document);
  localizeMarks(document);
  elapsed(document);
  setInterval(() => elapsed(document), 15000);
  // New accounts read times in the browser's own zone (UTC without JavaScript; changeable later).
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const input of document.querySelectorAll("input[data-browser-time-zone]")) {
    if (browserZone) input.value = browserZone;
  }
  // The single sign-on link (a link, not a form: the provider is another origin, which the page's
  // form-action policy rightly refuses) carries the zone too, for an account made at first sign-in.
  for (const link of document.querySelectorAll("a[data-browser-time-zone]")) {
    if (!browserZone) continue;
    const url = new URL(link.href);
    url.searchParams.set("time_zone", browserZone);
    link.href = url.pathname + url.search;
  }
  const invalid = document.querySelector("[aria-invalid=true]");
  if (invalid) invalid.focus();
});
