// Review of tag suggestions: cards, most uncertain first, each with its tag name and accept/reject
// buttons (mouse and touch); keys a/r/u and arrows; bulk accept that says beforehand how many it
// takes; undo. Counts in the tag menu follow every decision without a reload.
const root = document.getElementById("review");
const grid = document.getElementById("review-grid");
const statusEl = document.getElementById("review-status");
const undoBtn = document.getElementById("undo");
const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
let items = [];
let cursor = 0;
const undoStack = [];

async function api(url, options = {}) {
  const res = await fetch(url, {
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    ...options,
  });
  const data = res.status === 204 ? {} : await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function say(text) { statusEl.textContent = text; }

let loadAsked = 0;
async function load() {
  const asked = ++loadAsked;
  const tag = document.getElementById("review-tag").value;
  const params = new URLSearchParams({ limit: "200" });
  if (tag) params.set("tag", tag);
  const data = await api(`${root.dataset.suggestions}?${params}`);
  if (asked !== loadAsked) return;  // the person chose another tag meanwhile: that list wins
  items = data.results;
  cursor = Math.min(cursor, Math.max(items.length - 1, 0));
  render();
  say(`${data.count} suggestion${data.count === 1 ? "" : "s"} to review`);
  previewBulk();
}

// Bulk accept: the server counts what it would take at this confidence (every suggestion, not only
// the ones on screen); the button says the number, or why nothing qualifies.
const bulkMin = document.getElementById("bulk-min");
const bulkBtn = document.getElementById("bulk-accept");
const bulkNote = document.getElementById("bulk-note");
let previewAsked = 0;
async function previewBulk() {
  const asked = ++previewAsked;
  const min = Number(bulkMin.value);
  if (bulkMin.value === "" || Number.isNaN(min)) { bulkBtn.disabled = true; bulkNote.textContent = "Type a confidence between -1 and 1."; return; }
  const params = new URLSearchParams({ limit: "1", min_confidence: String(min) });
  const tag = document.getElementById("review-tag").value;
  if (tag) params.set("tag", tag);
  const { bulk } = await api(`${root.dataset.suggestions}?${params}`);
  if (asked !== previewAsked) return;  // a later preview was asked for meanwhile: its answer wins, whenever it comes
  bulkBtn.disabled = bulk.count === 0;
  bulkBtn.textContent = bulk.count ? `Accept ${bulk.count}` : "Accept";
  bulkBtn.dataset.count = bulk.count;
  bulkNote.textContent = bulk.count ? `suggestion${bulk.count === 1 ? "" : "s"} with confidence ≥ ${min}`
    : bulk.max_confidence === null ? "Nothing to accept: no suggestions left."
      : `None qualifies: the highest confidence is ${bulk.max_confidence.toFixed(2)}.`;
}

// The "(n)" after each tag in the menu: suggestions still waiting, as the server counts them.
function recount(left) {
  for (const [tag, n] of Object.entries(left || {})) {
    const option = document.querySelector(`#review-tag option[value="${tag}"]`);
    if (!option) continue;
    option.dataset.suggested = n;
    option.textContent = `${option.dataset.name} (${n})`;
  }
}

const STATE_WORDS = { accepted: "accepted", rejected: "rejected", suggested: "" };

function tile(item, index) {
  const el = document.createElement("figure");
  el.className = `review-tile state-${item.state}`;
  el.dataset.index = index;
  el.dataset.tag = item.tag;
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = `photo ${item.photo}`;
  img.src = root.dataset.thumb.replace("987654321", item.photo);
  const caption = document.createElement("figcaption");
  caption.innerHTML = `<strong class="tag-name"></strong><span class="tag-meta muted"></span><span class="tag-state"></span>`;
  caption.querySelector(".tag-name").textContent = item.tag_name;
  caption.querySelector(".tag-meta").textContent = `${item.vocabulary} · confidence ${item.confidence?.toFixed(2) ?? "?"}`;
  caption.querySelector(".tag-state").textContent = STATE_WORDS[item.state];
  const actions = document.createElement("div");
  actions.className = "review-actions";
  for (const [state, label] of [["accepted", "Accept"], ["rejected", "Reject"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `decide ${state}`;
    button.dataset.state = state;
    button.textContent = label;
    button.setAttribute("aria-label", `${label} “${item.tag_name}” for photo ${item.photo}`);
    button.setAttribute("aria-pressed", String(item.state === state));
    actions.append(button);
  }
  el.append(img, caption, actions);
  el.addEventListener("click", (event) => {
    cursor = index;
    highlight();
    const button = event.target.closest("button.decide");
    if (button) decide([item], item.state === button.dataset.state ? "suggested" : button.dataset.state).catch((err) => say(err.message));
  });
  return el;
}

function render() {
  grid.replaceChildren(...items.map(tile));
  document.getElementById("review-empty").hidden = items.length > 0;
  highlight();
}

function highlight() {
  grid.querySelectorAll(".review-tile").forEach((el) => el.classList.toggle("current", Number(el.dataset.index) === cursor));
  grid.querySelector(".current")?.scrollIntoView({ block: "nearest" });
}

async function decide(chosen, state) {
  if (!chosen.length) return;
  const before = chosen.map((item) => ({ id: item.id, state: item.state }));
  const answer = await api(root.dataset.decisions, { method: "POST", body: JSON.stringify({ ids: chosen.map((i) => i.id), state }) });
  recount(answer.suggested_left);
  chosen.forEach((item) => { item.state = state; });
  undoStack.push(before);
  undoBtn.disabled = false;
  render();
  say(`${state === "suggested" ? "back to review:" : state} ${chosen.length === 1 ? `“${chosen[0].tag_name}”` : chosen.length}`);
  previewBulk();
}

async function undo() {
  const last = undoStack.pop();
  if (!last) return;
  const byState = new Map();
  last.forEach(({ id, state }) => byState.set(state, [...(byState.get(state) || []), id]));
  for (const [state, ids] of byState) {
    const answer = await api(root.dataset.decisions, { method: "POST", body: JSON.stringify({ ids, state }) });
    recount(answer.suggested_left);
    items.filter((i) => ids.includes(i.id)).forEach((i) => { i.state = state; });
  }
  const first = items.findIndex((i) => i.id === last[0].id);
  if (first >= 0) cursor = first;  // back to what was undone
  undoBtn.disabled = undoStack.length === 0;
  render();
  say("undone");
  previewBulk();
}

function columns() {
  const tiles = grid.querySelectorAll(".review-tile");
  if (tiles.length < 2) return 1;
  const top = tiles[0].offsetTop;
  let n = 0;
  while (n < tiles.length && tiles[n].offsetTop === top) n += 1;
  return Math.max(n, 1);
}

function move(delta) {
  cursor = Math.min(Math.max(cursor + delta, 0), Math.max(items.length - 1, 0));
  highlight();
}

document.addEventListener("keydown", (event) => {
  if (event.target.matches("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
  const current = items[cursor];
  const keys = {
    ArrowRight: () => move(1), ArrowLeft: () => move(-1),
    ArrowDown: () => move(columns()), ArrowUp: () => move(-columns()),
    a: () => current && decide([current], "accepted").then(() => move(1)),
    r: () => current && decide([current], "rejected").then(() => move(1)),
    u: () => undo(),
  };
  if (keys[event.key]) {
    event.preventDefault();
    Promise.resolve(keys[event.key]()).catch((err) => say(err.message));
  }
});

bulkBtn.addEventListener("click", () => bulkAccept().catch((err) => say(err.message)));
bulkMin.addEventListener("input", () => previewBulk().catch((err) => say(err.message)));

async function bulkAccept() {
  const body = { min_confidence: Number(bulkMin.value), state: "accepted" };
  const tag = document.getElementById("review-tag").value;
  if (tag) body.tag = Number(tag);
  const answer = await api(root.dataset.decisions, { method: "POST", body: JSON.stringify(body) });
  recount(answer.suggested_left);
  const done = new Set(answer.ids);
  const before = items.filter((i) => done.has(i.id)).map((i) => ({ id: i.id, state: i.state }));
  items.filter((i) => done.has(i.id)).forEach((i) => { i.state = "accepted"; });
  if (answer.ids.length) { undoStack.push(answer.ids.map((id) => ({ id, state: "suggested" }))); undoBtn.disabled = false; }
  render();
  say(`accepted ${answer.ids.length}${answer.ids.length > before.length ? ` (${answer.ids.length - before.length} not on screen)` : ""}`);
  previewBulk();
}
undoBtn.addEventListener("click", () => undo().catch((err) => say(err.message)));
document.getElementById("review-tag").addEventListener("change", () => { cursor = 0; load().catch((err) => say(err.message)); });

// A tagging job's live bar; the suggestions are re-read when it ends.
async function follow(job) {
  const bar = document.getElementById("tagging-progress");
  bar.hidden = false;
  root.dataset.taggingState = "running";
  const j = await api(`/api/jobs/${job}/`);
  bar.max = j.total || 1; bar.value = j.done;
  say(`tagging: ${j.done}/${j.total} ${j.message || ""}`);
  if (j.state === "queued" || j.state === "running") { setTimeout(() => follow(job).catch((err) => say(err.message)), 1000); return; }
  bar.hidden = true;
  root.dataset.taggingState = j.state;
  if (j.error) say(`tagging ${j.state}: ${j.error}`);
  await load();
}

document.getElementById("run-tagging").addEventListener("click", async () => {
  try {
    const { job } = await api(root.dataset.tagging, { method: "POST", body: JSON.stringify({ force: false }) });
    if (!job) { say("everything is tagged already"); return; }
    follow(job);
  } catch (err) { say(err.message); }
});
if (root.dataset.job) follow(root.dataset.job).catch((err) => say(err.message));

load().catch((err) => say(err.message));
