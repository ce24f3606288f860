using Serilog;
using Serilog.Events;
using TorchFerry.Cli.Output;
using TorchFerry.Storage;

namespace TorchFerry.Cli.Commands;

/// <summary>What every subcommand shares: where it writes, the stores it reads and writes, its log.</summary>
internal sealed class CommandContext(TextWriter output, TextWriter error, Func<bool, ObjectStoreRouter>? stores = null)
{
    public TextWriter Output => output;

    public TextWriter Error => error;

    /// <summary>Warnings (and with --verbose, information) as single lines on standard error.</summary>
    public ILogger CreateLog(bool verbose) => new LoggerConfiguration()
        .MinimumLevel.Is(verbose ? LogEventLevel.Information : LogEventLevel.Warning)
        .WriteTo.Sink(new ErrorLineSink(error))
        .CreateLogger();

    /// <summary>The stores, with S3 configured from the standard AWS variables.</summary>
    public ObjectStoreRouter CreateStores(ILogger log, bool durable) =>
        stores?.Invoke(durable) ?? new ObjectStoreRouter(log: log, durableLocalWrites: durable);
}
