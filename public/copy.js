// Optional: a copy button beside the invite code. The page works the same without it.
for (const button of document.querySelectorAll('button[data-copy]')) {
  const source = document.getElementById(button.dataset.copy)
  if (source === null || navigator.clipboard === undefined) continue
  const label = button.textContent
  button.hidden = false
  button.addEventListener('click', async () => {
    await navigator.clipboard.writeText(source.textContent.trim())
    button.textContent = button.dataset.copied
    setTimeout(() => { button.textContent = label }, 2000)
  })
}
