using TorchFerry.Cli;

return await TorchFerryCommand.RunAsync(args, Console.Out, Console.Error);
