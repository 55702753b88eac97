// Live job progress over the websocket. Messages are hints: on every (re)connect the server sends
// a snapshot of the rows, so a page that slept or lost messages shows the true state again.
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content;
let retry = 500;

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/jobs/`);
  socket.onopen = () => { retry = 500; document.body.dataset.socket = "open"; };
  socket.onmessage = (event) => {
    const msg = JSON.parse(event.data);
    const jobs = msg.type === "snapshot" ? msg.jobs : [msg.job];
    jobs.forEach(applyJob);
    if (msg.type === "snapshot") updateActiveCount(jobs);
  };
  socket.onclose = () => {
    document.body.dataset.socket = "closed";
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 10000);
  };
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "sync" }));
  });
}

const known = new Map();
function updateActiveCount(jobs) {
  jobs.forEach((j) => known.set(j.id, j));
  const active = [...known.values()].filter((j) => j.state === "queued" || j.state === "running").length;
  const pill = document.getElementById("jobs-active-count");
  if (pill) { pill.hidden = active === 0; pill.textContent = active; }
}

// The jobs page lists entries (one per upload, generation, tagging run) with their jobs as steps;
// a job that is not on the page yet (started meanwhile) gets an entry of its own at the top.
const STEP_NAMES = { process_photos: "Thumbnails", embed_photos: "Reading with CLIP (for search)", tag_photos: "Suggesting tags",
  generate: "Generating images", neardup: "Finding near-duplicates" };
const TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

function newEntry(table, job) {
  table.querySelector("tr.empty")?.remove();
  const row = document.createElement("tr");
  row.className = "entry";
  row.dataset.job = job.id;
  row.innerHTML = `<td class="what"><strong class="title"></strong><ul class="steps"><li class="step">
    <span class="step-name"></span> <progress></progress> <span class="count"></span> <span class="state"></span>
    <span class="message"></span></li></ul></td><td class="state entry-state"></td><td><time></time></td><td class="finished"></td>`;
  const name = STEP_NAMES[job.kind] || job.kind.replaceAll("_", " ");
  row.querySelector(".title").textContent = `${name}${job.total ? ` · ${job.total}` : ""}`;
  row.querySelector(".step").dataset.step = job.id;
  row.querySelector(".step-name").textContent = name;
  if (job.created_at) row.querySelector("time").textContent = TIME.format(new Date(job.created_at));
  table.prepend(row);
  return row;
}

function applyJob(job) {
  known.set(job.id, job);
  updateActiveCount([]);
  const table = document.querySelector("#jobs-table tbody");
  if (table) {
    const step = table.querySelector(`li.step[data-step="${job.id}"]`) || newEntry(table, job).querySelector("li.step");
    step.dataset.state = job.state;
    step.querySelector(".state").textContent = job.state;
    const bar = step.querySelector("progress");
    bar.max = job.total || 1; bar.value = job.done;
    step.querySelector(".count").textContent = `${job.done}/${job.total}`;
    step.querySelector(".message").textContent = job.error || job.message;
    if (["succeeded", "failed", "cancelled"].includes(job.state)) step.querySelector("button.cancel")?.remove();
    const entry = step.closest("tr.entry");
    const states = [...entry.querySelectorAll("li.step")].map((li) => li.dataset.state);
    entry.dataset.state = ["failed", "running", "queued", "cancelled"].find((st) => states.includes(st)) || "succeeded";
    entry.querySelector(".entry-state").textContent = entry.dataset.state;
    const finished = [...entry.querySelectorAll("li.step")].every((li) => ["succeeded", "failed", "cancelled"].includes(li.dataset.state));
    const cell = entry.querySelector("td.finished");
    if (finished && cell && job.finished_at && !cell.querySelector("time")) {
      const time = document.createElement("time");
      time.dateTime = job.finished_at;
      time.textContent = TIME.format(new Date(job.finished_at));
      cell.replaceChildren(time);
    }
  }
  document.dispatchEvent(new CustomEvent("atelier:job", { detail: job }));
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.cancel");
  if (!button) return;
  button.disabled = true;
  const res = await fetch(`/api/jobs/${button.dataset.job}/cancel/`, { method: "POST", headers: { "X-CSRFToken": csrf() } });
  if (res.ok) applyJob(await res.json());
});

// Tiles still processing in a collection grid are refreshed when a job of theirs moves.
document.addEventListener("atelier:job", () => refreshPendingTiles());
let refreshing = false;
async function refreshPendingTiles() {
  if (refreshing) return;
  refreshing = true;
  try {
    for (const tile of document.querySelectorAll(".tile .tile-pending")) {
      const link = tile.closest(".tile");
      const res = await fetch(`/api/photos/${link.dataset.photo}/`);
      if (!res.ok) continue;
      const photo = await res.json();
      if (photo.thumbs_ready) {
        const img = document.createElement("img");
        img.src = `${photo.thumbnail_url}?size=grid`;
        img.alt = photo.title;
        tile.replaceWith(img);
      } else if (photo.process_error) {
        tile.className = "tile-error";
        tile.textContent = photo.process_error;
      }
    }
  } finally { refreshing = false; }
}

connect();
export { applyJob };
