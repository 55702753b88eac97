// Live progress of a running near-duplicate scan (jobs.js relays job events); reloads when done.
const box = document.getElementById("neardup-progress");
if (box) {
  document.addEventListener("atelier:job", ({ detail: job }) => {
    if (String(job.id) !== box.dataset.scanJob) return;
    box.dataset.state = job.state;
    const bar = box.querySelector("progress");
    bar.max = job.total || 1; bar.value = job.done;
    box.querySelector(".count").textContent = `${job.done}/${job.total}`;
    box.querySelector(".message").textContent = job.error || job.message;
    if (job.state === "succeeded") location.reload();
  });
}
