/* In-grant playback (footage/play.html): the stream in a <video>, the overlay clocks, privacy masks fitted to the
   picture, seeking from the timeline and the "watched" reports (every 15 s, on pause and when leaving the page).
   No inline script or style (CSP): everything comes from data-* attributes. */
(function () {
  "use strict";
  const REPORT_EVERY_MS = 15000;
  const RETRY_MS = 3000;
  const RETRIES_MAX = 40;

  function fmt(date, tz) {
    try {
      return new Intl.DateTimeFormat("sv-SE", {
        timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
      }).format(date);
    } catch (e) {
      return date.toISOString().replace("T", " ").slice(0, 19);
    }
  }

  function setup(stage) {
    const video = stage.querySelector("[data-video]");
    const card = stage.closest("section") || document;
    const bar = card.querySelector(".pb-bar");
    const playhead = card.querySelector("[data-playhead]");
    const status = card.querySelector("[data-status]");
    const footageTime = stage.querySelector("[data-footage-time]");
    const nowTime = stage.querySelector("[data-now-time]");
    const tz = stage.dataset.timezone || "UTC";
    const clipStart = new Date(stage.dataset.clipStart).getTime();
    const windowStart = new Date(stage.dataset.windowStart).getTime();
    const windowEnd = new Date(stage.dataset.windowEnd).getTime();
    const streamUrl = stage.dataset.streamUrl;
    let pending = [];      // [startMs, endMs] wall-clock ranges watched, not yet reported
    let from = null;       // wall-clock ms where the current continuous stretch began
    let last = null;       // wall-clock ms at the last timeupdate

    function wall() { return clipStart + video.currentTime * 1000; }

    function tick() {
      nowTime.textContent = fmt(new Date(), tz);
      if (!isNaN(video.currentTime) && video.readyState > 0) {
        const at = wall();
        footageTime.textContent = fmt(new Date(at), tz);
        if (playhead) {
          const x = Math.max(0, Math.min(1000, (at - windowStart) / (windowEnd - windowStart) * 1000));
          playhead.setAttribute("x1", x.toFixed(2));
          playhead.setAttribute("x2", x.toFixed(2));
        }
      }
    }

    function closeStretch() {
      if (from !== null && last !== null && last > from) {
        pending.push([Math.max(from, windowStart), Math.min(last, windowEnd)]);
      }
      from = null;
    }

    function report(leaving) {
      closeStretch();
      if (!video.paused && last !== null) { from = last; }
      const ranges = pending.filter((r) => r[1] > r[0]).map((r) => [new Date(r[0]).toISOString(), new Date(r[1]).toISOString()]);
      pending = [];
      if (!ranges.length) { return; }
      fetch(stage.dataset.watchedUrl, {
        method: "POST", credentials: "same-origin", keepalive: !!leaving,
        headers: { "Content-Type": "application/json", "X-CSRFToken": stage.dataset.csrf },
        body: JSON.stringify({ ranges: ranges }),
      }).then((response) => {
        if (response.status === 403) { video.pause(); video.removeAttribute("src"); video.load(); status.textContent = stage.dataset.errorText; }
      }).catch(() => {});
    }

    video.addEventListener("timeupdate", () => {
      const at = wall();
      if (from === null && !video.paused) { from = at; }
      else if (last !== null && Math.abs(at - last) > 5000) { closeStretch(); from = at; }  // a seek
      last = at;
      tick();
    });
    video.addEventListener("playing", () => { from = wall(); last = from; });
    video.addEventListener("pause", () => { last = wall(); report(false); });
    video.addEventListener("seeking", () => { closeStretch(); });
    video.addEventListener("seeked", () => { from = video.paused ? null : wall(); last = wall(); });
    video.addEventListener("ended", () => report(false));
    video.addEventListener("loadedmetadata", () => {
      if (video.videoWidth && video.videoHeight) { stage.style.aspectRatio = video.videoWidth + " / " + video.videoHeight; }
    });
    // The stream answers 503 (Retry-After) while a masked clip is re-encoded or too many clips are being built:
    // try again a while before giving up.
    let retries = 0;
    video.addEventListener("error", () => {
      if (retries < RETRIES_MAX && video.getAttribute("src")) {
        retries += 1;
        if (status) { status.textContent = stage.dataset.preparingText || ""; }
        window.setTimeout(() => { video.src = streamUrl + "?retry=" + retries; video.play().catch(() => {}); }, RETRY_MS);
        return;
      }
      if (status) { status.textContent = stage.dataset.errorText; }
    });
    video.addEventListener("loadeddata", () => { if (status && retries) { status.textContent = ""; } });
    window.setInterval(() => report(false), REPORT_EVERY_MS);
    window.setInterval(tick, 1000);
    window.addEventListener("pagehide", () => report(true));
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") { report(true); } });

    if (bar) {
      bar.addEventListener("click", (event) => {
        const box = bar.getBoundingClientRect();
        const target = windowStart + (event.clientX - box.left) / box.width * (windowEnd - windowStart);
        const seconds = Math.max(0, (target - clipStart) / 1000);
        const seekable = video.seekable;
        const inside = seekable.length && seconds >= seekable.start(0) && seconds <= seekable.end(seekable.length - 1);
        if (inside) { video.currentTime = seconds; return; }
        // Still streaming while it was built: load it again, now complete, which allows seeking anywhere.
        closeStretch();
        const resume = () => { video.removeEventListener("loadedmetadata", resume); video.currentTime = seconds; video.play().catch(() => {}); };
        video.addEventListener("loadedmetadata", resume);
        video.src = streamUrl + "?r=" + Date.now();
      });
    }
    video.src = streamUrl;
    video.play().catch(() => {});
    tick();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-player]").forEach(setup);
  });
})();
