// Drag-and-drop upload with a progress bar per file. Each file is its own request, so one bad
// file is reported with its reason while the others go through.
import { photoTile } from "./tiles.js";

const zone = document.getElementById("upload");
const list = document.getElementById("upload-list");
const grid = document.getElementById("photo-grid");
const input = document.getElementById("file-input");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const PARALLEL = 2;

zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); uploadAll([...e.dataTransfer.files]); });
input.addEventListener("change", () => { uploadAll([...input.files]); input.value = ""; });

async function uploadAll(files) {
  const upload = crypto.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`; // one entry on the jobs page
  const queue = files.map((file) => ({ file, row: addRow(file), upload }));
  const next = async () => { for (let item = queue.shift(); item; item = queue.shift()) await uploadOne(item); };
  await Promise.all(Array.from({ length: PARALLEL }, next));
}

function addRow(file) {
  const row = document.createElement("li");
  row.className = "upload-row";
  row.innerHTML = `<span class="name"></span> <progress max="100" value="0"></progress> <span class="result"></span>`;
  row.querySelector(".name").textContent = file.name;
  list.append(row);
  return row;
}

function uploadOne({ file, row, upload }) {
  return new Promise((resolve) => {
    const form = new FormData();
    form.append("files", file);
    form.append("upload", upload);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", zone.dataset.url);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) row.querySelector("progress").value = (100 * e.loaded) / e.total; };
    xhr.onload = () => { showResult(row, xhr.status, xhr.responseText); resolve(); };
    xhr.onerror = () => { setResult(row, "error", "network error: try again"); resolve(); };
    xhr.send(form);
  });
}

function showResult(row, status, text) {
  let body = {};
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  row.querySelector("progress").value = 100;
  if (status >= 400) return setResult(row, "error", body.error || `failed (${status})`);
  const parts = [];
  (body.created || []).forEach((p) => { addTile(p.id, p.filename); });
  if (body.created?.length) parts.push(`added ${body.created.length}`);
  if (body.duplicates?.length) parts.push(`${body.duplicates.length} already in the collection`);
  (body.rejected || []).forEach((r) => parts.push(`rejected: ${r.reason}`));
  setResult(row, body.rejected?.length ? (body.created?.length ? "partial" : "error") : "ok", parts.join(" · "));
}

function setResult(row, kind, message) {
  row.dataset.result = kind;
  row.querySelector(".result").textContent = message;
}

function addTile(id, filename) {
  // New photos go first, under "Just added", until the next load sorts them into the timeline.
  document.getElementById("timeline-end").textContent = "";
  let section = grid.querySelector('.day-group[data-group="new"]');
  if (!section) {
    section = document.createElement("section");
    section.className = "day-group";
    section.dataset.group = "new";
    section.innerHTML = `<h2>Just added</h2><div class="grid"></div>`;
    grid.prepend(section);
  }
  if (!grid.querySelector(`.tile[data-photo="${id}"]`)) section.querySelector(".grid").prepend(photoTile({ id, filename }));
}
