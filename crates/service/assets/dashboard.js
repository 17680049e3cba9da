// Placeholder: lists the batches with the token typed in (kept in this tab only).
document.getElementById("token-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const token = document.getElementById("token").value.trim();
  const out = document.getElementById("batches");
  const res = await fetch("/api/v1/batches", { headers: { Authorization: "Bearer " + token } });
  out.textContent = JSON.stringify(await res.json(), null, 2);
});
