using TorchFerry.Webhook.Hosting;

return await WebhookCommand.RunAsync(args);
