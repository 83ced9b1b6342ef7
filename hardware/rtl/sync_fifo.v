// sync_fifo: first-word-fall-through synchronous FIFO (the head is visible
// while !empty; pop takes it). `clear` empties it. Pushing into a full FIFO
// drops the entry and pulses `overflow` (the design sizes its FIFOs so that
// this never happens; the bench asserts the counter stays 0).
module sync_fifo #(
    parameter integer WIDTH = 32,
    parameter integer DEPTH = 8
) (
    input  wire             clk,
    input  wire             rst,
    input  wire             clear,
    input  wire             push,
    input  wire [WIDTH-1:0] din,
    input  wire             pop,
    output wire [WIDTH-1:0] dout,
    output wire             empty,
    output reg  [$clog2(DEPTH+1)-1:0] count,
    output reg              overflow
);
    localparam integer AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer CNW = $clog2(DEPTH + 1);
    localparam [CNW-1:0] FULL = DEPTH[CNW-1:0];
    localparam integer LAST_I = DEPTH - 1;
    localparam [AW-1:0]  LAST = LAST_I[AW-1:0];
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [AW-1:0]    rd_ptr, wr_ptr;

    wire do_pop  = pop && count != {CNW{1'b0}};
    wire do_push = push && (count != FULL || do_pop);

    assign dout  = mem[rd_ptr];
    assign empty = (count == {CNW{1'b0}});

    always @(posedge clk) begin
        if (rst || clear) begin
            rd_ptr <= {AW{1'b0}};
            wr_ptr <= {AW{1'b0}};
            count <= {CNW{1'b0}};
            overflow <= 1'b0;
        end else begin
            overflow <= push && !do_push;
            if (do_push) begin
                mem[wr_ptr] <= din;
                wr_ptr <= (wr_ptr == LAST) ? {AW{1'b0}} : wr_ptr + 1'b1;
            end
            if (do_pop)
                rd_ptr <= (rd_ptr == LAST) ? {AW{1'b0}} : rd_ptr + 1'b1;
            if (do_push && !do_pop)
                count <= count + 1'b1;
            else if (do_pop && !do_push)
                count <= count - 1'b1;
        end
    end
endmodule
