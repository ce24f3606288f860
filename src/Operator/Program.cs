using TorchFerry.Operator.Hosting;

return await OperatorCommand.RunAsync(args);
