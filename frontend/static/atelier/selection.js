// Selecting photos in a timeline: the round check on a tile (or, once something is selected, the
// tile itself) toggles it; shift-click selects the range from the last one clicked; "Select all"
// takes every loaded photo. The bar then acts on the selection through POST /api/photos/bulk/.
const grid = document.getElementById("photo-grid");
const bar = document.getElementById("selection-bar");
const countEl = document.getElementById("selection-count");
const note = document.getElementById("selection-note");
const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
const selected = new Set();
let anchor = null;

const tiles = () => [...grid.querySelectorAll(".tile[data-photo]")];

function mark(tile, on) {
  const id = Number(tile.dataset.photo);
  if (on) selected.add(id); else selected.delete(id);
  tile.classList.toggle("selected", on);
  tile.querySelector(".tile-check")?.setAttribute("aria-checked", String(on));
}

function refresh() {
  bar.hidden = selected.size === 0;
  grid.classList.toggle("selecting", selected.size > 0);
  countEl.textContent = `${selected.size.toLocaleString()} selected`;
  document.getElementById("bulk-zip").href = `/api/photos/zip/?ids=${[...selected].join(",")}`;
}

function toggle(tile, range) {
  const all = tiles();
  if (range && anchor && anchor.isConnected) {
    const [a, b] = [all.indexOf(anchor), all.indexOf(tile)].sort((x, y) => x - y);
    const on = anchor.classList.contains("selected");
    all.slice(a, b + 1).forEach((t) => mark(t, on));
  } else {
    mark(tile, !tile.classList.contains("selected"));
    anchor = tile;
  }
  refresh();
}

grid.addEventListener("click", (event) => {
  const tile = event.target.closest(".tile[data-photo]");
  if (!tile) return;
  const onCheck = event.target.closest(".tile-check");
  if (!onCheck && selected.size === 0) return; // a plain click opens the photo
  event.preventDefault();
  event.stopImmediatePropagation();
  toggle(tile, event.shiftKey);
}, true);

document.getElementById("select-all").addEventListener("click", () => { tiles().forEach((t) => mark(t, true)); refresh(); });
document.getElementById("select-clear").addEventListener("click", clear);
function clear() { tiles().forEach((t) => mark(t, false)); selected.clear(); anchor = null; refresh(); }
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && selected.size && !document.querySelector("dialog[open]")) clear(); });

async function act(body) {
  const res = await fetch("/api/photos/bulk/", {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    body: JSON.stringify({ ids: [...selected], ...body }),
  });
  const answer = await res.json();
  if (!res.ok) throw new Error(answer.error || res.statusText);
  return answer;
}

function say(text, bad = false) { note.textContent = text; note.classList.toggle("error", bad); }
const plural = (n, word) => `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;

document.getElementById("bulk-tag").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = document.getElementById("bulk-tag-name").value.trim();
  const remove = event.submitter?.value === "remove";
  try {
    const answer = await act({ action: remove ? "remove_tag" : "add_tag", tag: name });
    say(remove ? `Took “${name}” off ${plural(answer.untagged, "photo")}` : `Tagged ${plural(answer.tagged, "photo")} “${name}”`);
  } catch (err) { say(err.message, true); }
});

document.getElementById("bulk-copy").addEventListener("click", async () => {
  const target = document.getElementById("bulk-target");
  if (!target.value) { say("Choose the collection to add to first.", true); target.focus(); return; }
  try {
    const answer = await act({ action: "copy_to", collection: Number(target.value) });
    const name = target.selectedOptions[0].textContent;
    say(`Added ${plural(answer.added, "photo")} to ${name}${answer.already_there ? ` (${answer.already_there} already there)` : ""}`);
  } catch (err) { say(err.message, true); }
});

const dialog = document.getElementById("confirm-delete");
document.getElementById("bulk-delete").addEventListener("click", () => {
  document.getElementById("confirm-delete-text").textContent = `${dialog.dataset.question.replace("{n}", plural(selected.size, "photo"))}`;
  dialog.showModal();
});
dialog.addEventListener("close", async () => {
  if (dialog.returnValue !== "delete") return;
  try {
    const answer = await act({ action: "delete" });
    tiles().filter((t) => selected.has(Number(t.dataset.photo))).forEach((t) => t.remove());
    grid.querySelectorAll(".day-group").forEach((g) => { if (!g.querySelector(".tile")) g.remove(); });
    selected.clear();
    refresh();
    bar.hidden = false;
    say(`Deleted ${plural(answer.deleted, "photo")}`);
    document.dispatchEvent(new CustomEvent("atelier:photos-removed", { detail: answer.deleted }));
  } catch (err) { say(err.message, true); }
});
