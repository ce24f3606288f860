using System.Globalization;
using Amazon.S3;
using Amazon.S3.Model;
using TorchFerry.TestSupport;

// Helpers for bench/s3/run.sh:
//   s3bench serve                 start s3rver and a proxy that answers UploadPartCopy; print both endpoints; run until stdin closes
//                                 (a line "requests" on stdin prints the proxy's requests since the last one, then an empty line)
//   s3bench put ENDPOINT KEY FILE  upload a file
//   s3bench sdk-copy ENDPOINT SRC DST PART_MIB   the peer: download the object and upload it again through the SDK (multipart)
switch (args)
{
    case ["serve"]:
        {
            using var server = new S3Server();
            await using var proxy = new FaultProxy(server) { EmulateUploadPartCopy = true };
            Console.WriteLine($"{server.Endpoint} {proxy.Endpoint}");

            // "requests": the requests the proxy saw since the last time, one per line, then an empty line.
            while (await Console.In.ReadLineAsync() is { } command)
            {
                if (command == "requests")
                {
                    foreach (var request in proxy.Requests)
                    {
                        Console.WriteLine(request);
                    }

                    Console.WriteLine();
                    proxy.ClearRequests();
                }
            }

            Console.Error.WriteLine($"s3bench: proxy answered {proxy.CopiesServed} UploadPartCopy requests");
            return 0;
        }

    case ["put", var endpoint, var key, var file]:
        {
            using var client = Client(endpoint);
            await using var stream = File.OpenRead(file);
            await client.PutObjectAsync(new PutObjectRequest { BucketName = S3Server.Bucket, Key = key, InputStream = stream, UseChunkEncoding = false });
            return 0;
        }

    case ["sdk-copy", var endpoint, var source, var destination, var partMib]:
        {
            using var client = Client(endpoint);
            var partSize = int.Parse(partMib, CultureInfo.InvariantCulture) << 20;
            using var response = await client.GetObjectAsync(S3Server.Bucket, source);
            var upload = await client.InitiateMultipartUploadAsync(S3Server.Bucket, destination);
            var parts = new List<PartETag>();
            var buffer = new byte[partSize];
            long moved = 0;
            while (true)
            {
                var filled = 0;
                int n;
                while (filled < partSize && (n = await response.ResponseStream.ReadAsync(buffer.AsMemory(filled))) > 0)
                {
                    filled += n;
                }

                if (filled == 0)
                {
                    break;
                }

                var part = await client.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = S3Server.Bucket,
                    Key = destination,
                    UploadId = upload.UploadId,
                    PartNumber = parts.Count + 1,
                    InputStream = new MemoryStream(buffer, 0, filled),
                    UseChunkEncoding = false,
                });
                parts.Add(new PartETag(parts.Count + 1, part.ETag));
                moved += filled;
            }

            await client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = S3Server.Bucket, Key = destination, UploadId = upload.UploadId, PartETags = parts });
            Console.WriteLine($"sdk-copy: {moved * 2} bytes through this process");
            return 0;
        }

    default:
        Console.Error.WriteLine("usage: s3bench serve | put ENDPOINT KEY FILE | sdk-copy ENDPOINT SRC DST PART_MIB");
        return 2;
}

static AmazonS3Client Client(string endpoint) => S3Server.CreateClient(new Uri(endpoint));
