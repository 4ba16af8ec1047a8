// Renders one card with Microsoft's Adaptive Cards renderer the way its docs show (markdown-it for Markdown)
// and reports what a reader would see: texts with their colours, live links, Markdown formatting, problems.
AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
  result.outputHtml = window.markdownit().render(text);
  result.didProcess = true;
};

window.renderCard = (payload, hostConfig) => {
  const host = document.getElementById("host");
  host.innerHTML = "";
  const card = new AdaptiveCards.AdaptiveCard();
  card.hostConfig = new AdaptiveCards.HostConfig(hostConfig);
  const context = new AdaptiveCards.SerializationContext();
  card.parse(payload, context);
  const problems = [];
  for (let i = 0; i < context.eventCount; i++) problems.push(context.getEventAt(i).message);
  for (const e of card.validateProperties().validationEvents) problems.push(e.message);
  const element = card.render();
  host.appendChild(element);
  const texts = [...element.querySelectorAll(".ac-textBlock")].map((el) => {
    const style = getComputedStyle(el);
    return {text: el.innerText, color: style.color, weight: parseInt(style.fontWeight, 10)};
  });
  return {
    problems,
    background: getComputedStyle(element).backgroundColor,
    texts,
    links: [...element.querySelectorAll(".ac-textBlock a")].map((a) => a.getAttribute("href")),
    formatting: [...element.querySelectorAll(".ac-textBlock :is(strong, em, code, h1, h2, h3, h4, h5, h6, li, blockquote, del, s, table, img)")]
      .map((el) => el.tagName),
    buttons: [...element.querySelectorAll("button")].map((b) => b.innerText),
  };
};
